// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-quantize-kv-cache | FileCheck %s
// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-quantize-kv-cache="bits=4 group=4" | FileCheck %s --check-prefix=INT4
// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-quantize-kv-cache="rotate=false" | FileCheck %s --check-prefix=NOROT
// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-quantize-kv-cache="asym=true clip=0.5" | FileCheck %s --check-prefix=ASYM

#qk = affine_map<(b, t, s, d) -> (b, t, d)>
#kt = affine_map<(b, t, s, d) -> (b, s, d)>
#sc = affine_map<(b, t, s, d) -> (b, t, s)>
#pv = affine_map<(b, t, s, d) -> (b, t, s)>
#vv = affine_map<(b, t, s, d) -> (b, s, d)>
#ctx = affine_map<(b, t, s, d) -> (b, t, d)>

// One attention head: scores Q K^T reduce the key cache's last dimension
// (keys rotated, and the queries with them), the context P V keeps the
// value cache's (values rotated, and the context after the product). Pasts
// become codes plus scales, presents are returned as codes plus scales,
// names follow.
// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:.*]]: tensor<1x2x8xf32>, %[[PK:.*]]: tensor<1x?x8xi8>, %[[PKS:.*]]: tensor<1x?x1xf32>, %[[K:.*]]: tensor<1x2x8xf32>, %[[PV:.*]]: tensor<1x?x8xi8>, %[[PVS:.*]]: tensor<1x?x1xf32>, %[[V:.*]]: tensor<1x2x8xf32>)
// CHECK-SAME: -> (tensor<1x2x8xf32>, tensor<1x?x8xi8>, tensor<1x?x1xf32>, tensor<1x?x8xi8>, tensor<1x?x1xf32>)
// CHECK-SAME: qc.input_names = ["q", "past_key", "past_key_scale", "k", "past_value", "past_value_scale", "v"]
// CHECK-SAME: qc.kv_cache = {asym = false, bits = 8 : i64, caches = 2 : i64, clip = 1.000000e+00 : f64, group = 0 : i64, rotated = 2 : i64}
// CHECK-SAME: qc.output_names = ["context", "present_key", "present_key_scale", "present_value", "present_value_scale"]
// CHECK: %[[KH:.*]] = qc.hadamard %[[K]] : tensor<1x2x8xf32>
// CHECK: math.absf
// CHECK: %[[KS:.*]] = linalg.generic
// CHECK: arith.divf
// CHECK: %[[KQ:.*]] = qc.quantize %[[KH]], %[[KS]] {axis = 2 : i64, format = #qc.format<int8>, group_size = 8 : i64}
// CHECK: %[[PKC:.*]] = tensor.concat dim(1) %[[PK]], %[[KQ]]
// CHECK: %[[PKSC:.*]] = tensor.concat dim(1) %[[PKS]], %[[KS]]
// CHECK: %[[KD:.*]] = qc.dequantize %[[PKC]], %[[PKSC]]
// CHECK: %[[VH:.*]] = qc.hadamard %[[V]] : tensor<1x2x8xf32>
// CHECK: %[[VQ:.*]] = qc.quantize %[[VH]]
// CHECK: %[[PVC:.*]] = tensor.concat dim(1) %[[PV]], %[[VQ]]
// CHECK: %[[PVSC:.*]] = tensor.concat dim(1) %[[PVS]]
// CHECK: %[[VD:.*]] = qc.dequantize %[[PVC]], %[[PVSC]]
// CHECK: %[[QH:.*]] = qc.hadamard %[[Q]] : tensor<1x2x8xf32>
// CHECK: linalg.generic {{.*}} ins(%[[QH]], %[[KD]] :
// CHECK: %[[CTX:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[VD]] :
// CHECK: %[[OUT:.*]] = qc.hadamard %[[CTX]] : tensor<1x2x8xf32>
// CHECK: return %[[OUT]], %[[PKC]], %[[PKSC]], %[[PVC]], %[[PVSC]]
// INT4-LABEL: func.func @attention
// INT4-SAME: %{{.*}}: tensor<1x?x4xi8>, %{{.*}}: tensor<1x?x2xf32>
// INT4-SAME: qc.kv_cache = {asym = false, bits = 4 : i64, caches = 2 : i64, clip = 1.000000e+00 : f64, group = 4 : i64, rotated = 2 : i64}
// INT4: qc.quantize {{.*}} {axis = 2 : i64, format = #qc.format<int4>, group_size = 4 : i64} : (tensor<1x2x8xf32>, tensor<1x2x2xf32>) -> tensor<1x2x8xi4>
// INT4: arith.shli
// INT4: arith.ori
// INT4: arith.shrsi
// INT4: arith.trunci {{.*}} : i8 to i4
// INT4: tensor.collapse_shape {{.*}} into tensor<1x?x8xi4>
// INT4: qc.dequantize
// Asymmetric: zero points (i8) after the scales, unsigned codes, ranges
// narrowed by clip before the parameters.
// ASYM-LABEL: func.func @attention
// ASYM-SAME: %{{.*}}: tensor<1x?x8xi8>, %{{.*}}: tensor<1x?x1xf32>, %{{.*}}: tensor<1x?x1xi8>, %{{.*}}: tensor<1x2x8xf32>, %{{.*}}: tensor<1x?x8xi8>, %{{.*}}: tensor<1x?x1xf32>, %{{.*}}: tensor<1x?x1xi8>
// ASYM-SAME: qc.input_names = ["q", "past_key", "past_key_scale", "past_key_zero", "k", "past_value", "past_value_scale", "past_value_zero", "v"]
// ASYM-SAME: qc.kv_cache = {asym = true, bits = 8 : i64, caches = 2 : i64, clip = 5.000000e-01 : f64, group = 0 : i64, rotated = 2 : i64}
// ASYM-SAME: qc.output_names = ["context", "present_key", "present_key_scale", "present_key_zero", "present_value", "present_value_scale", "present_value_zero"]
// ASYM: arith.maxnumf
// ASYM: arith.minnumf
// ASYM: arith.constant 5.000000e-01 : f32
// ASYM: arith.fptosi
// ASYM: qc.quantize %{{.*}}, %{{.*}}, %[[ZP:[^ ]*]] {axis = 2 : i64, format = #qc.format<uint8>, group_size = 8 : i64}
// ASYM: %[[PZ:.*]] = tensor.concat dim(1) %{{.*}}, %[[ZP]]
// ASYM: qc.dequantize %{{.*}}, %{{.*}}, %[[PZ]] {axis = 2 : i64, format = #qc.format<uint8>
// NOROT-LABEL: func.func @attention
// NOROT-SAME: rotated = 0 : i64
// NOROT-NOT: qc.hadamard
func.func @attention(%q: tensor<1x2x8xf32>, %pk: tensor<1x?x8xf32>, %k: tensor<1x2x8xf32>, %pv: tensor<1x?x8xf32>, %v: tensor<1x2x8xf32>)
    -> (tensor<1x2x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32>)
    attributes {qc.input_names = ["q", "past_key", "k", "past_value", "v"],
                qc.output_names = ["context", "present_key", "present_value"]} {
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %kc = tensor.concat dim(1) %pk, %k : (tensor<1x?x8xf32>, tensor<1x2x8xf32>) -> tensor<1x?x8xf32>
  %vc = tensor.concat dim(1) %pv, %v : (tensor<1x?x8xf32>, tensor<1x2x8xf32>) -> tensor<1x?x8xf32>
  %s = tensor.dim %kc, %c1 : tensor<1x?x8xf32>
  %e = tensor.empty(%s) : tensor<1x2x?xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<1x2x?xf32>) -> tensor<1x2x?xf32>
  %scores = linalg.generic {indexing_maps = [#qk, #kt, #sc], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%q, %kc : tensor<1x2x8xf32>, tensor<1x?x8xf32>) outs(%f : tensor<1x2x?xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x?xf32>
  %e2 = tensor.empty() : tensor<1x2x8xf32>
  %f2 = linalg.fill ins(%zero : f32) outs(%e2 : tensor<1x2x8xf32>) -> tensor<1x2x8xf32>
  %out = linalg.generic {indexing_maps = [#pv, #vv, #ctx], iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
      ins(%scores, %vc : tensor<1x2x?xf32>, tensor<1x?x8xf32>) outs(%f2 : tensor<1x2x8xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    %r = arith.addf %o, %m : f32
    linalg.yield %r : f32
  } -> tensor<1x2x8xf32>
  return %out, %kc, %vc : tensor<1x2x8xf32>, tensor<1x?x8xf32>, tensor<1x?x8xf32>
}

// -----

// A concat whose result is not returned is no cache; neither is an
// argument read by anything but the concat (and its extents).
// CHECK-LABEL: func.func @not_a_cache
// CHECK-SAME: (%{{.*}}: tensor<1x?x8xf32>, %{{.*}}: tensor<1x2x8xf32>, %{{.*}}: tensor<1x?x8xf32>)
// CHECK-NOT: qc.quantize
// CHECK-NOT: qc.kv_cache
func.func @not_a_cache(%p: tensor<1x?x8xf32>, %x: tensor<1x2x8xf32>, %p2: tensor<1x?x8xf32>)
    -> (tensor<1x?x8xf32>, tensor<1x?x8xf32>) {
  %c = tensor.concat dim(1) %p, %x : (tensor<1x?x8xf32>, tensor<1x2x8xf32>) -> tensor<1x?x8xf32>
  %n = math.exp %c : tensor<1x?x8xf32>
  %c2 = tensor.concat dim(1) %p2, %x : (tensor<1x?x8xf32>, tensor<1x2x8xf32>) -> tensor<1x?x8xf32>
  %n2 = math.exp %p2 : tensor<1x?x8xf32>
  return %n, %c2 : tensor<1x?x8xf32>, tensor<1x?x8xf32>
}
