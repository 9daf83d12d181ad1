// RUN: quant-opt %s --qc-quantize --split-input-file | FileCheck %s
// RUN: quant-opt %s --qc-quantize="w-bits=4 w-granularity=group group-size=4 a-bits=0" --split-input-file | FileCheck %s --check-prefix=W4G
// RUN: quant-opt %s --qc-quantize="asym=true a-granularity=tensor" --split-input-file | FileCheck %s --check-prefix=ASYM
// RUN: quant-opt %s --qc-quantize="w-format=fp8e4m3 a-format=fp8e4m3" --split-input-file | FileCheck %s --check-prefix=FP8
// RUN: not quant-opt %s --qc-quantize="a-mode=static" --split-input-file 2>&1 | FileCheck %s --check-prefix=NORANGE
// RUN: not quant-opt %s --qc-quantize="w-bits=9" --split-input-file 2>&1 | FileCheck %s --check-prefix=BADBITS

// Weight scales: absmax / 127 per output row; the zero row gets scale 1.
// Activations: dynamic per row (absmax over the last dim / 127).
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[Q:.*]] = arith.constant dense<{{\[\[}}42, -85, 127, 21, 11, -5, 64, 85], [16, 32, 48, 64, 79, 95, 111, 127], [-127, -127, -127, -127, 127, 127, 127, 127], [0, 0, 0, 0, 0, 0, 0, 0]]> : tensor<4x8xi8>
// CHECK-DAG: %[[S:.*]] = arith.constant dense<[0.0236220472, 0.00629921257, 0.00787401571, 1.000000e+00]> : tensor<4xf32>
// CHECK: %[[W:.*]] = qc.dequantize %[[Q]], %[[S]] {axis = 0 : i64, format = #qc.format<int8>}
// CHECK: %[[XQ:.*]] = qc.quantize %{{.*}}, %[[XS:.*]] {axis = 1 : i64, format = #qc.format<int8>, group_size = 8 : i64} : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xi8>
// CHECK: %[[XD:.*]] = qc.dequantize %[[XQ]], %[[XS]]
// CHECK: qc.linear %[[XD]], %[[W]], %{{.*}} {qc.weight_sqnr = {{.*}} : f64}

// W4G: qc.dequantize %{{.*}}, %{{.*}} {axis = 1 : i64, format = #qc.format<int4>, group_size = 4 : i64} : (tensor<4x8xi4>, tensor<4x2xf32>) -> tensor<4x8xf32>
// W4G-NOT: qc.quantize
// ASYM: qc.dequantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 0 : i64, format = #qc.format<uint8>} : (tensor<4x8xi8>, tensor<4xf32>, tensor<4xi8>)
// ASYM: qc.quantize %{{.*}}, %{{.*}}, %{{.*}} {format = #qc.format<uint8>} : (tensor<?x8xf32>, tensor<f32>, tensor<i8>) -> tensor<?x8xi8>
// FP8: qc.dequantize %{{.*}}, %{{.*}} {axis = 0 : i64, format = #qc.format<fp8e4m3>} : (tensor<4x8xf8E4M3FN>, tensor<4xf32>)
// FP8: qc.quantize %{{.*}} {axis = 1 : i64, format = #qc.format<fp8e4m3>, group_size = 8 : i64} : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xf8E4M3FN>
// NORANGE: layer 'fc1': no calibrated range
// BADBITS: w-bits must be in 1..8, got 9
func.func @linear(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 3.0, 0.5, 0.25, -0.125, 1.5, 2.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<4x8xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %y = qc.linear %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x4xf32> loc("fc1")
  return %y : tensor<?x4xf32>
}

// -----

// Static ranges from the layer's qc.scheme (calibration writes them): scale
// = max(|LO|, |HI|) / 127 = 0.02; a layer marked float is left alone.
// CHECK-LABEL: func.func @static_and_float
// The layer's scheme is all of it: W4 weight-only options do not touch it.
// W4G-LABEL: func.func @static_and_float
// W4G: qc.quantize %{{.*}} {format = #qc.format<int8>}
// CHECK: %[[S:.*]] = arith.constant dense<2.000000e-02> : tensor<f32>
// CHECK: qc.quantize %{{.*}}, %[[S]] {format = #qc.format<int8>} : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xi8>
// CHECK: qc.linear
// CHECK-NOT: qc.dequantize
// CHECK: qc.linear %arg0, %{{.*}} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
func.func @static_and_float(%x: tensor<2x8xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %w = arith.constant dense<0.5> : tensor<4x8xf32>
  %y = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = int8 tensor static, range = [-1.0, 2.54]>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %z = qc.linear %x, %w {qc.scheme = #qc.scheme<float>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y, %z : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// An embedding (a row gather from a constant [V, H] table, as the importer
// emits Gather): the table becomes codes with per-row scales, both gathered
// with the same index arithmetic, and only the gathered rows are
// dequantized. No activation quantization: the rows are no product's input.
// CHECK-LABEL: func.func @embedding
// CHECK-DAG: %[[Q:.*]] = arith.constant dense<{{\[\[}}42, -85, 127, 21, 11, -5, 64, 85], [16, 32, 48, 64, 79, 95, 111, 127], [-127, -127, -127, -127, 127, 127, 127, 127], [0, 0, 0, 0, 0, 0, 0, 0]]> : tensor<4x8xi8>
// CHECK: %[[GQ:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<1x5xi64>) outs(%{{.*}} : tensor<1x5x8xi8>)
// CHECK: %[[K:.*]] = arith.select
// CHECK: %[[J:.*]] = linalg.index 2
// CHECK: tensor.extract %[[Q]][%[[K]], %[[J]]] : tensor<4x8xi8>
// CHECK: %[[S:.*]] = arith.constant dense<{{\[\[}}0.0236220472], [0.00629921257], [0.00787401571], [1.000000e+00]]> : tensor<4x1xf32>
// CHECK: %[[GS:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<1x5xi64>) outs(%{{.*}} : tensor<1x5x1xf32>)
// CHECK: tensor.extract %[[S]]
// CHECK: %[[R:.*]] = qc.dequantize %[[GQ]], %[[GS]] {axis = 2 : i64, format = #qc.format<int8>, group_size = 8 : i64, qc.weight_sqnr = {{.*}}} : (tensor<1x5x8xi8>, tensor<1x5x1xf32>) -> tensor<1x5x8xf32>
// CHECK-NOT: qc.quantize
// CHECK: return %[[R]]
// W4G-LABEL: func.func @embedding
// W4G: tensor.extract %{{.*}} : tensor<4x8xi4>
// W4G: tensor.extract %{{.*}} : tensor<4x2xf32>
// W4G: qc.dequantize %{{.*}}, %{{.*}} {axis = 2 : i64, format = #qc.format<int4>, group_size = 4 : i64, {{.*}}} : (tensor<1x5x8xi4>, tensor<1x5x2xf32>) -> tensor<1x5x8xf32>
// ASYM-LABEL: func.func @embedding
// ASYM: tensor.extract %{{.*}} : tensor<4x1xi8>
// ASYM: qc.dequantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 2 : i64, format = #qc.format<uint8>, group_size = 8 : i64, {{.*}}} : (tensor<1x5x8xi8>, tensor<1x5x1xf32>, tensor<1x5x1xi8>)
func.func @embedding(%ids: tensor<1x5xi64>) -> tensor<1x5x8xf32> {
  %t = arith.constant dense<[[1.0, -2.0, 3.0, 0.5, 0.25, -0.125, 1.5, 2.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<4x8xf32>
  %e = tensor.empty() : tensor<1x5x8xf32>
  %c4 = arith.constant 4 : index
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1, d2) -> (d0, d1)>, affine_map<(d0, d1, d2) -> (d0, d1, d2)>], iterator_types = ["parallel", "parallel", "parallel"]} ins(%ids : tensor<1x5xi64>) outs(%e : tensor<1x5x8xf32>) {
  ^bb0(%i: i64, %o: f32):
    %k = arith.index_cast %i : i64 to index
    %c0 = arith.constant 0 : index
    %neg = arith.cmpi slt, %k, %c0 : index
    %w = arith.addi %k, %c4 : index
    %k2 = arith.select %neg, %w, %k : index
    %j = linalg.index 2 : index
    %v = tensor.extract %t[%k2, %j] : tensor<4x8xf32>
    linalg.yield %v : f32
  } -> tensor<1x5x8xf32>
  return %g : tensor<1x5x8xf32>
}

// -----

// Not embeddings: a column gather (Gather axis = 1) and a table marked float.
// CHECK-LABEL: func.func @not_embedding
// CHECK-NOT: qc.dequantize
// CHECK: return
func.func @not_embedding(%ids: tensor<3xi64>) -> (tensor<4x3xf32>, tensor<3x8xf32>) {
  %t = arith.constant dense<0.5> : tensor<4x8xf32>
  %e = tensor.empty() : tensor<4x3xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%ids : tensor<3xi64>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%i: i64, %o: f32):
    %k = arith.index_cast %i : i64 to index
    %r = linalg.index 0 : index
    %v = tensor.extract %t[%r, %k] : tensor<4x8xf32>
    linalg.yield %v : f32
  } -> tensor<4x3xf32>
  %e2 = tensor.empty() : tensor<3x8xf32>
  %h = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%ids : tensor<3xi64>) outs(%e2 : tensor<3x8xf32>) attrs = {qc.scheme = #qc.scheme<float>} {
  ^bb0(%i: i64, %o: f32):
    %k = arith.index_cast %i : i64 to index
    %c = linalg.index 1 : index
    %v = tensor.extract %t[%k, %c] : tensor<4x8xf32>
    linalg.yield %v : f32
  } -> tensor<3x8xf32>
  return %g, %h : tensor<4x3xf32>, tensor<3x8xf32>
}

// -----

// Static per-tensor codes are computed before the layer input's pad and
// reshapes (a convolution's padded input), which then move the 1-byte
// codes: asymmetric uint8 over [-1, 3] has scale 4/255 and zero point 64,
// so the pad value 0.5 becomes round(0.5 * 255 / 4) + 64 = 96.
// CHECK-LABEL: func.func @codes_before_pad
// CHECK: %[[Q:.*]] = qc.quantize %arg0, %{{.*}}, %{{.*}} {format = #qc.format<uint8>} : (tensor<2x1x6xf32>, tensor<f32>, tensor<i8>) -> tensor<2x1x6xi8>
// CHECK: %[[C:.*]] = tensor.collapse_shape %[[Q]] {{\[\[}}0], [1, 2]] : tensor<2x1x6xi8> into tensor<2x6xi8>
// CHECK: %[[V:.*]] = arith.constant 96 : i8
// CHECK: %[[P:.*]] = tensor.pad %[[C]] low[0, 0] high[0, 2]
// CHECK: tensor.yield %[[V]] : i8
// CHECK: %[[D:.*]] = qc.dequantize %[[P]], %{{.*}}, %{{.*}} {format = #qc.format<uint8>} : (tensor<2x8xi8>, tensor<f32>, tensor<i8>) -> tensor<2x8xf32>
// CHECK: qc.linear %[[D]]
func.func @codes_before_pad(%x: tensor<2x1x6xf32>) -> tensor<2x4xf32> {
  %c = tensor.collapse_shape %x [[0], [1, 2]] : tensor<2x1x6xf32> into tensor<2x6xf32>
  %v = arith.constant 0.5 : f32
  %p = tensor.pad %c low[0, 0] high[0, 2] {
  ^bb0(%i: index, %j: index):
    tensor.yield %v : f32
  } : tensor<2x6xf32> to tensor<2x8xf32>
  %w = arith.constant dense<0.5> : tensor<4x8xf32>
  %y = qc.linear %p, %w {qc.scheme = #qc.scheme<w = uint8 channel, a = uint8 tensor static, range = [-1.0, 3.0]>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// Bit balance (#qc.scheme's `balanced`): int3 codes on the five levels
// {-2, ..., 2}, scale max|w| / 2 per channel (row 0: 0.8 / 2 = 0.4, codes
// round(w / 0.4): 0.8 -> 2, -0.5 -> -1 (-1.25), 0.3 -> 1 (0.75), -0.1 -> 0;
// row 1: 0.6 / 2 = 0.3, -0.6 -> -2, 0.45 -> 1 (0.45f / 0.3f is 1.4999999
// in float32), 0.1 -> 0, 0.2 -> 1).
// The full-range int3 grid would put the extreme on -4 instead.
// CHECK-LABEL: func.func @balanced
// CHECK-DAG: arith.constant dense<{{\[}}[2, -1, 1, 0], [-2, 1, 0, 1]]> : tensor<2x4xi3>
// CHECK-DAG: arith.constant dense<[4.000000e-01, 3.000000e-01]> : tensor<2xf32>
func.func @balanced(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[0.8, -0.5, 0.3, -0.1], [-0.6, 0.45, 0.1, 0.2]]> : tensor<2x4xf32>
  %y = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int3 channel balanced, a = none>} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
