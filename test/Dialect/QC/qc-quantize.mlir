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
// BADBITS: w_bits must be in 1..8, got 9
func.func @linear(%x: tensor<?x8xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 3.0, 0.5, 0.25, -0.125, 1.5, 2.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8], [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]> : tensor<4x8xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %y = qc.linear %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x4xf32> loc("fc1")
  return %y : tensor<?x4xf32>
}

// -----

// Static ranges from the layer's qc.quant (calibration writes them): scale
// = max(|a_min|, |a_max|) / 127 = 0.02; a layer marked float is left alone.
// CHECK-LABEL: func.func @static_and_float
// CHECK: %[[S:.*]] = arith.constant dense<2.000000e-02> : tensor<f32>
// CHECK: qc.quantize %{{.*}}, %[[S]] {format = #qc.format<int8>} : (tensor<2x8xf32>, tensor<f32>) -> tensor<2x8xi8>
// CHECK: qc.linear
// CHECK-NOT: qc.dequantize
// CHECK: qc.linear %arg0, %{{.*}} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
func.func @static_and_float(%x: tensor<2x8xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %w = arith.constant dense<0.5> : tensor<4x8xf32>
  %y = qc.linear %x, %w {qc.quant = {a_mode = "static", a_min = -1.0 : f64, a_max = 2.54 : f64}} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  %z = qc.linear %x, %w {qc.quant = {float}} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y, %z : tensor<2x4xf32>, tensor<2x4xf32>
}
