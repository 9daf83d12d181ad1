// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(qc-insert-observers))' | FileCheck %s
// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(qc-insert-observers{second-moment all-layers}))' | FileCheck %s --check-prefix=ALL
// RUN: quant-opt %s --split-input-file --pass-pipeline='builtin.module(func.func(qc-insert-observers),qc-expose-observers)' | FileCheck %s --check-prefix=EXPOSE

// Two quantized layers read %x: one observer, one slot named after the
// first; the float layer is not observed (except with all-layers).
// CHECK-LABEL: func.func @shared_input
// CHECK-NEXT: qc.observe %arg0 as "q_proj" {channel_axis = 1 : i64} : tensor<4x8xf32>
// CHECK-NOT: qc.observe
// CHECK: qc.linear {{.*}}qc.act_slot = "q_proj"
// CHECK: qc.linear {{.*}}qc.act_slot = "q_proj"
// CHECK: %[[Y:.*]] = qc.linear
// CHECK-NOT: qc.act_slot
// CHECK-SAME: #qc.scheme<float>
// CHECK-NOT: qc.observe
// ALL-LABEL: func.func @shared_input
// ALL: qc.observe %arg0 as "q_proj" {channel_axis = 1 : i64, second_moment}
// ALL: qc.observe %{{.*}} as "out_proj" {channel_axis = 1 : i64, second_moment}
// EXPOSE-LABEL: func.func @shared_input
// EXPOSE-SAME: -> (tensor<4x16xf32>, tensor<4x8xf32>)
// EXPOSE-SAME: qc.output_names = ["y", "qc.observe:q_proj"]
// EXPOSE-NOT: qc.observe %
// EXPOSE: return %{{.*}}, %arg0 : tensor<4x16xf32>, tensor<4x8xf32>
func.func @shared_input(%x: tensor<4x8xf32>) -> tensor<4x16xf32>
    attributes {qc.output_names = ["y"]} {
  %w = arith.constant dense<0.5> : tensor<16x8xf32>
  %w2 = arith.constant dense<0.25> : tensor<16x16xf32>
  %q = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>} : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32> loc("q_proj")
  %k = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int4 group 8, a = none>} : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32> loc("k_proj")
  %s = arith.addf %q, %k : tensor<4x16xf32>
  %y = qc.linear %s, %w2 {qc.scheme = #qc.scheme<float>} : (tensor<4x16xf32>, tensor<16x16xf32>) -> tensor<4x16xf32> loc("out_proj")
  return %y : tensor<4x16xf32>
}

// -----

// An observer already there keeps its slot and options; a convolution's
// input is observed per channel along axis 1 (NCHW).
// CHECK-LABEL: func.func @existing_and_conv
// CHECK: qc.observe %arg0 as "mine" : tensor<1x3x6x6xf32>
// CHECK-NOT: qc.observe
// CHECK: linalg.generic
// CHECK-SAME: qc.act_slot = "mine"
// ALL-LABEL: func.func @existing_and_conv
// ALL: qc.observe %arg0 as "mine" : tensor<1x3x6x6xf32>
// ALL-NOT: qc.observe
// EXPOSE-LABEL: func.func @existing_and_conv
// EXPOSE-SAME: qc.output_names = ["output_0", "qc.observe:mine"]
#in = affine_map<(n, f, h, w, c, kh, kw) -> (n, c, h + kh, w + kw)>
#wt = affine_map<(n, f, h, w, c, kh, kw) -> (f, c, kh, kw)>
#out = affine_map<(n, f, h, w, c, kh, kw) -> (n, f, h, w)>
func.func @existing_and_conv(%x: tensor<1x3x6x6xf32>) -> tensor<1x4x4x4xf32> {
  qc.observe %x as "mine" : tensor<1x3x6x6xf32>
  %w = arith.constant dense<0.5> : tensor<4x3x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %y = linalg.generic {indexing_maps = [#in, #wt, #out],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : tensor<1x3x6x6xf32>, tensor<4x3x3x3xf32>) outs(%init : tensor<1x4x4x4xf32>)
      attrs = {qc.scheme = #qc.scheme<w = int8 channel, a = int8 tensor static>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x4x4x4xf32>
  return %y : tensor<1x4x4x4xf32>
}

// -----

// CHECK-LABEL: func.func @conv_axis
// ALL-LABEL: func.func @conv_axis
// CHECK: qc.observe %arg0 as "conv" {channel_axis = 1 : i64} : tensor<1x3x6x6xf32>
#in = affine_map<(n, f, h, w, c, kh, kw) -> (n, c, h + kh, w + kw)>
#wt = affine_map<(n, f, h, w, c, kh, kw) -> (f, c, kh, kw)>
#out = affine_map<(n, f, h, w, c, kh, kw) -> (n, f, h, w)>
func.func @conv_axis(%x: tensor<1x3x6x6xf32>) -> tensor<1x4x4x4xf32> {
  %w = arith.constant dense<0.5> : tensor<4x3x3x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4x4xf32>) -> tensor<1x4x4x4xf32>
  %y = linalg.generic {indexing_maps = [#in, #wt, #out],
      iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]}
      ins(%x, %w : tensor<1x3x6x6xf32>, tensor<4x3x3x3xf32>) outs(%init : tensor<1x4x4x4xf32>)
      attrs = {qc.scheme = #qc.scheme<w = int8 channel, a = int8 tensor static>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x4x4x4xf32> loc("conv")
  return %y : tensor<1x4x4x4xf32>
}
