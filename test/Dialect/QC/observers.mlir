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
// With second moments, the convolution's im2col vectors get a slot of
// their own (GPTQ's Hessian), named in qc.patch_slot.
// ALL-LABEL: func.func @existing_and_conv
// ALL: qc.observe %arg0 as "mine" : tensor<1x3x6x6xf32>
// ALL: qc.observe %arg0 as "linalg.generic_0#patch" {channel_axis = 1 : i64, patch_dilations = array<i64: 1, 1>, patch_kernel = array<i64: 3, 3>, patch_strides = array<i64: 1, 1>, second_moment}
// ALL-NEXT: linalg.generic
// ALL-SAME: qc.act_slot = "mine", qc.patch_slot = "linalg.generic_0#patch"
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
// CHECK-NOT: patch
// ALL: qc.observe %arg0 as "conv" {channel_axis = 1 : i64, second_moment} : tensor<1x3x6x6xf32>
// ALL: qc.observe %arg0 as "conv#patch" {channel_axis = 1 : i64, patch_dilations = array<i64: 1, 1>, patch_kernel = array<i64: 3, 3>, patch_strides = array<i64: 1, 1>, second_moment}
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

// -----

// The importer's form (input [N, G, C/G, H, W], weight [G, M/G, C/G, kh,
// kw] reshaped from [M, C/G, kh, kw]): strides and dilations are read from
// `o * s + k * d`. A 1x1 window of stride 1 needs no slot of its own (its
// input's channel moment is its Hessian), nor does a grouped convolution
// (each group would need its own) or a window read at an offset (not an
// im2col of its input).
// ALL-LABEL: func.func @importer_forms
// ALL: qc.observe %[[XG:.*]] as "strided" {channel_axis = 2 : i64, second_moment}
// ALL: qc.observe %[[XG]] as "strided#patch" {channel_axis = 2 : i64, patch_dilations = array<i64: 2, 1>, patch_kernel = array<i64: 2, 3>, patch_strides = array<i64: 2, 3>, second_moment}
// ALL: qc.act_slot = "strided", qc.patch_slot = "strided#patch"
// ALL-NOT: patch
// ALL: qc.act_slot = "strided"
// ALL-NOT: patch
// ALL: qc.observe %{{.*}} as "grouped" {channel_axis = 2 : i64, second_moment}
// ALL-NOT: patch
// ALL: qc.act_slot = "strided"
// ALL-NOT: patch
// ALL: return
#cin = affine_map<(n, g, m, c, kh, kw, oh, ow) -> (n, g, c, oh * 2 + kh * 2, ow * 3 + kw)>
#cwt = affine_map<(n, g, m, c, kh, kw, oh, ow) -> (g, m, c, kh, kw)>
#cout = affine_map<(n, g, m, c, kh, kw, oh, ow) -> (n, g, m, oh, ow)>
#pin = affine_map<(n, g, m, c, kh, kw, oh, ow) -> (n, g, c, oh + kh, ow + kw)>
#oin = affine_map<(n, g, m, c, kh, kw, oh, ow) -> (n, g, c, oh + kh + 1, ow + kw)>
func.func @importer_forms(%x: tensor<1x4x9x9xf32>) -> (tensor<1x1x5x4x3xf32>, tensor<1x1x5x9x9xf32>, tensor<1x2x3x8x7xf32>, tensor<1x1x5x7x7xf32>) {
  %xg = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 1, 4, 9, 9] : tensor<1x4x9x9xf32> into tensor<1x1x4x9x9xf32>
  %w = arith.constant dense<0.5> : tensor<5x4x2x3xf32>
  %wg = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [1, 5, 4, 2, 3] : tensor<5x4x2x3xf32> into tensor<1x5x4x2x3xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x1x5x4x3xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x1x5x4x3xf32>) -> tensor<1x1x5x4x3xf32>
  %y = linalg.generic {indexing_maps = [#cin, #cwt, #cout],
      iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "parallel", "parallel"]}
      ins(%xg, %wg : tensor<1x1x4x9x9xf32>, tensor<1x5x4x2x3xf32>) outs(%init : tensor<1x1x5x4x3xf32>)
      attrs = {qc.scheme = #qc.scheme<w = int4 channel, a = none>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x5x4x3xf32> loc("strided")
  %w1 = arith.constant dense<0.25> : tensor<5x4x1x1xf32>
  %w1g = tensor.expand_shape %w1 [[0, 1], [2], [3], [4]] output_shape [1, 5, 4, 1, 1] : tensor<5x4x1x1xf32> into tensor<1x5x4x1x1xf32>
  %e1 = tensor.empty() : tensor<1x1x5x9x9xf32>
  %init1 = linalg.fill ins(%zero : f32) outs(%e1 : tensor<1x1x5x9x9xf32>) -> tensor<1x1x5x9x9xf32>
  %y1 = linalg.generic {indexing_maps = [#pin, #cwt, #cout],
      iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "parallel", "parallel"]}
      ins(%xg, %w1g : tensor<1x1x4x9x9xf32>, tensor<1x5x4x1x1xf32>) outs(%init1 : tensor<1x1x5x9x9xf32>)
      attrs = {qc.scheme = #qc.scheme<w = int4 channel, a = none>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x5x9x9xf32> loc("pointwise")
  %x2 = tensor.expand_shape %x [[0], [1, 2], [3], [4]] output_shape [1, 2, 2, 9, 9] : tensor<1x4x9x9xf32> into tensor<1x2x2x9x9xf32>
  %w2 = arith.constant dense<0.125> : tensor<6x2x2x3xf32>
  %w2g = tensor.expand_shape %w2 [[0, 1], [2], [3], [4]] output_shape [2, 3, 2, 2, 3] : tensor<6x2x2x3xf32> into tensor<2x3x2x2x3xf32>
  %e2 = tensor.empty() : tensor<1x2x3x8x7xf32>
  %init2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x3x8x7xf32>) -> tensor<1x2x3x8x7xf32>
  %y2 = linalg.generic {indexing_maps = [#pin, #cwt, #cout],
      iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "parallel", "parallel"]}
      ins(%x2, %w2g : tensor<1x2x2x9x9xf32>, tensor<2x3x2x2x3xf32>) outs(%init2 : tensor<1x2x3x8x7xf32>)
      attrs = {qc.scheme = #qc.scheme<w = int4 channel, a = none>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x2x3x8x7xf32> loc("grouped")
  %w3 = arith.constant dense<0.5> : tensor<5x4x2x3xf32>
  %w3g = tensor.expand_shape %w3 [[0, 1], [2], [3], [4]] output_shape [1, 5, 4, 2, 3] : tensor<5x4x2x3xf32> into tensor<1x5x4x2x3xf32>
  %e3 = tensor.empty() : tensor<1x1x5x7x7xf32>
  %init3 = linalg.fill ins(%zero : f32) outs(%e3 : tensor<1x1x5x7x7xf32>) -> tensor<1x1x5x7x7xf32>
  %y3 = linalg.generic {indexing_maps = [#oin, #cwt, #cout],
      iterator_types = ["parallel", "parallel", "parallel", "reduction", "reduction", "reduction", "parallel", "parallel"]}
      ins(%xg, %w3g : tensor<1x1x4x9x9xf32>, tensor<1x5x4x2x3xf32>) outs(%init3 : tensor<1x1x5x7x7xf32>)
      attrs = {qc.scheme = #qc.scheme<w = int4 channel, a = none>} {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %m = arith.mulf %a, %b : f32
    %s = arith.addf %acc, %m : f32
    linalg.yield %s : f32
  } -> tensor<1x1x5x7x7xf32> loc("offset")
  return %y, %y1, %y2, %y3 : tensor<1x1x5x4x3xf32>, tensor<1x1x5x9x9xf32>, tensor<1x2x3x8x7xf32>, tensor<1x1x5x7x7xf32>
}
