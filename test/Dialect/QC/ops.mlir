// RUN: quant-opt %s | quant-opt | FileCheck %s
// RUN: quant-opt %s --mlir-print-op-generic | quant-opt | FileCheck %s
// Round trip of every qc op and every spelling of #qc.format.

// CHECK-LABEL: func.func @linear
func.func @linear(%x: tensor<4x16x64xf32>, %w: tensor<128x64xf32>, %b: tensor<128xf32>,
                  %d: tensor<?x64xf16>, %wd: tensor<32x64xf16>) -> (tensor<4x16x128xf32>, tensor<?x32xf16>) {
  // CHECK: qc.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<4x16x64xf32>, tensor<128x64xf32>, tensor<128xf32>) -> tensor<4x16x128xf32>
  %y = qc.linear %x, %w, %b : (tensor<4x16x64xf32>, tensor<128x64xf32>, tensor<128xf32>) -> tensor<4x16x128xf32>
  // CHECK: qc.linear %{{.*}}, %{{.*}} : (tensor<?x64xf16>, tensor<32x64xf16>) -> tensor<?x32xf16>
  %z = qc.linear %d, %wd : (tensor<?x64xf16>, tensor<32x64xf16>) -> tensor<?x32xf16>
  return %y, %z : tensor<4x16x128xf32>, tensor<?x32xf16>
}

// CHECK-LABEL: func.func @batch_matmul
func.func @batch_matmul(%q: tensor<2x8x128x64xf32>, %k: tensor<2x8x128x64xf32>, %v: tensor<2x8x128x64xf32>) -> tensor<2x8x128x64xf32> {
  // CHECK: qc.batch_matmul %{{.*}}, %{{.*}} {transpose_rhs} : (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) -> tensor<2x8x128x128xf32>
  %s = qc.batch_matmul %q, %k {transpose_rhs} : (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) -> tensor<2x8x128x128xf32>
  // CHECK: qc.batch_matmul %{{.*}}, %{{.*}} : (tensor<2x8x128x128xf32>, tensor<2x8x128x64xf32>) -> tensor<2x8x128x64xf32>
  %o = qc.batch_matmul %s, %v : (tensor<2x8x128x128xf32>, tensor<2x8x128x64xf32>) -> tensor<2x8x128x64xf32>
  return %o : tensor<2x8x128x64xf32>
}

// CHECK-LABEL: func.func @norms
func.func @norms(%x: tensor<2x16x64xf32>, %g: tensor<64xf32>, %b: tensor<64xf32>, %g2: tensor<16x64xf32>) -> (tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<2x16x64xf32>) {
  // CHECK: qc.layer_norm %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
  %a = qc.layer_norm %x, %g, %b : (tensor<2x16x64xf32>, tensor<64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
  // CHECK: qc.layer_norm %{{.*}}, %{{.*}} {axis = -2 : i64, epsilon = 9.99999997E-7 : f32}
  %c = qc.layer_norm %x, %g2 {axis = -2 : i64, epsilon = 1.0e-6 : f32} : (tensor<2x16x64xf32>, tensor<16x64xf32>) -> tensor<2x16x64xf32>
  // CHECK: qc.rms_norm %{{.*}}, %{{.*}} : (tensor<2x16x64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
  %r = qc.rms_norm %x, %g : (tensor<2x16x64xf32>, tensor<64xf32>) -> tensor<2x16x64xf32>
  return %a, %c, %r : tensor<2x16x64xf32>, tensor<2x16x64xf32>, tensor<2x16x64xf32>
}

// CHECK-LABEL: func.func @hadamard
func.func @hadamard(%a: tensor<?x1024xf32>, %b: tensor<3x12xbf16>, %c: tensor<5x640xf32>, %d: tensor<7x3584xf16>, %e: tensor<1xf32>) {
  // CHECK: qc.hadamard %{{.*}} : tensor<?x1024xf32>
  %0 = qc.hadamard %a : tensor<?x1024xf32>
  // CHECK: qc.hadamard %{{.*}} : tensor<3x12xbf16>
  %1 = qc.hadamard %b : tensor<3x12xbf16>
  // 640 = 32 * 20, 3584 = 128 * 28
  // CHECK: qc.hadamard %{{.*}} : tensor<5x640xf32>
  %2 = qc.hadamard %c : tensor<5x640xf32>
  // CHECK: qc.hadamard %{{.*}} : tensor<7x3584xf16>
  %3 = qc.hadamard %d : tensor<7x3584xf16>
  // CHECK: qc.hadamard %{{.*}} : tensor<1xf32>
  %4 = qc.hadamard %e : tensor<1xf32>
  return
}

// CHECK-LABEL: func.func @quantize_granularities
func.func @quantize_granularities(%w: tensor<256x512xf32>, %x: tensor<4x16x64xf32>,
    %st: tensor<f32>, %sc: tensor<256xf32>, %zc: tensor<256xi4>, %sg: tensor<256x4xf32>, %zg: tensor<256x4xi4>,
    %stok: tensor<4x16x1xf32>) {
  // CHECK: qc.quantize %{{.*}}, %{{.*}} {format = #qc.format<int8>} : (tensor<4x16x64xf32>, tensor<f32>) -> tensor<4x16x64xi8>
  %0 = qc.quantize %x, %st {format = #qc.format<int8>} : (tensor<4x16x64xf32>, tensor<f32>) -> tensor<4x16x64xi8>
  // CHECK: qc.quantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 0 : i64, format = #qc.format<uint4>}
  %1 = qc.quantize %w, %sc, %zc {format = #qc.format<uint4>, axis = 0 : i64} : (tensor<256x512xf32>, tensor<256xf32>, tensor<256xi4>) -> tensor<256x512xi4>
  // CHECK: qc.quantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64, format = #qc.format<uint4>, group_size = 128 : i64}
  %2 = qc.quantize %w, %sg, %zg {format = #qc.format<uint4>, axis = 1 : i64, group_size = 128 : i64} : (tensor<256x512xf32>, tensor<256x4xf32>, tensor<256x4xi4>) -> tensor<256x512xi4>
  // Per-token dynamic scales: one block over the whole last dimension.
  // CHECK: qc.quantize %{{.*}}, %{{.*}} {axis = -1 : i64, format = #qc.format<int8>, group_size = 64 : i64}
  %3 = qc.quantize %x, %stok {format = #qc.format<int8>, axis = -1 : i64, group_size = 64 : i64} : (tensor<4x16x64xf32>, tensor<4x16x1xf32>) -> tensor<4x16x64xi8>
  // CHECK: qc.dequantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64, format = #qc.format<uint4>, group_size = 128 : i64} : (tensor<256x512xi4>, tensor<256x4xf32>, tensor<256x4xi4>) -> tensor<256x512xf32>
  %4 = qc.dequantize %2, %sg, %zg {format = #qc.format<uint4>, axis = 1 : i64, group_size = 128 : i64} : (tensor<256x512xi4>, tensor<256x4xf32>, tensor<256x4xi4>) -> tensor<256x512xf32>
  return
}

// CHECK-LABEL: func.func @formats
func.func @formats(%x: tensor<8xf32>, %s: tensor<f32>) {
  // CHECK: #qc.format<int1>
  %0 = qc.quantize %x, %s {format = #qc.format<int1>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi1>
  // CHECK: #qc.format<uint2>
  %1 = qc.quantize %x, %s {format = #qc.format<uint2>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi2>
  // CHECK: #qc.format<int16>
  %2 = qc.quantize %x, %s {format = #qc.format<int16>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi16>
  // CHECK: #qc.format<fp8e4m3>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf8E4M3FN>
  %3 = qc.quantize %x, %s {format = #qc.format<fp8e4m3>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf8E4M3FN>
  // CHECK: #qc.format<fp8e5m2>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf8E5M2>
  %4 = qc.quantize %x, %s {format = #qc.format<fp8e5m2>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf8E5M2>
  // CHECK: #qc.format<fp6e3m2>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf6E3M2FN>
  %5 = qc.quantize %x, %s {format = #qc.format<fp6e3m2>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf6E3M2FN>
  // CHECK: #qc.format<fp6e2m3>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf6E2M3FN>
  %6 = qc.quantize %x, %s {format = #qc.format<fp6e2m3>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf6E2M3FN>
  // CHECK: #qc.format<fp4e2m1>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf4E2M1FN>
  %7 = qc.quantize %x, %s {format = #qc.format<fp4e2m1>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf4E2M1FN>
  // CHECK: qc.dequantize %{{.*}}, %{{.*}} {format = #qc.format<fp4e2m1>} : (tensor<8xf4E2M1FN>, tensor<f32>) -> tensor<8xf32>
  %8 = qc.dequantize %7, %s {format = #qc.format<fp4e2m1>} : (tensor<8xf4E2M1FN>, tensor<f32>) -> tensor<8xf32>
  return
}

// CHECK-LABEL: func.func @observe
func.func @observe(%x: tensor<8x128xf32>) {
  // CHECK: qc.observe %{{.*}} as "layers.0.mlp.in" {channel_axis = -1 : i64} : tensor<8x128xf32>
  qc.observe %x as "layers.0.mlp.in" {channel_axis = -1 : i64} : tensor<8x128xf32>
  // CHECK: qc.observe %{{.*}} as "out" : tensor<8x128xf32>
  qc.observe %x as "out" : tensor<8x128xf32>
  return
}

// Every form of #qc.scheme.
// CHECK-LABEL: func.func @schemes
func.func @schemes(%x: tensor<2x8xf32>, %w: tensor<4x8xf32>) {
  // CHECK: qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>
  %0 = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  // CHECK: qc.scheme = #qc.scheme<w = int4 group 128, a = none>
  %1 = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int4 group 128, a = none>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  // CHECK: qc.scheme = #qc.scheme<w = int3 group 64 balanced, a = int2 token dynamic>
  %b = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int3 group 64 balanced, a = int2 token dynamic>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  // CHECK: qc.scheme = #qc.scheme<w = uint8 tensor, a = uint8 tensor static, calib = "percentile:99.9", range = [-1.000000e+00, 2.500000e+00]>
  %2 = qc.linear %x, %w {qc.scheme = #qc.scheme<w = uint8 tensor, a = uint8 tensor static, calib = "percentile:99.9", range = [-1.0, 2.5]>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  // CHECK: qc.scheme = #qc.scheme<w = fp8e4m3 channel, a = fp8e4m3 tensor static>
  %3 = qc.linear %x, %w {qc.scheme = #qc.scheme<w = fp8e4m3 channel, a = fp8e4m3 tensor static>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  // CHECK: qc.scheme = #qc.scheme<float>
  %4 = qc.linear %x, %w {qc.scheme = #qc.scheme<float>} : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return
}

// The quantized contractions: a linear on codes (per-row activation scale
// with a zero point, per-channel weight scale, bias) and a 1-D convolution.
// CHECK-LABEL: func.func @quantized_contractions
func.func @quantized_contractions(%x: tensor<?x64xi8>, %xs: tensor<?x1xf32>, %xz: tensor<?x1xi8>, %w: tensor<32x64xi8>, %ws: tensor<32xf32>, %b: tensor<32xf32>, %u: tensor<10x8xi8>, %us: tensor<f32>, %c: tensor<5x8x3xi4>, %cs: tensor<5xf32>, %init: tensor<8x5xf32>) -> (tensor<?x32xf32>, tensor<8x5xf32>) {
  // CHECK: qc.quantized_linear %{{.*}}, %{{.*}} zero_point %{{.*}} weight %{{.*}}, %{{.*}} bias %{{.*}} {input_format = #qc.format<uint8>, weight_format = #qc.format<int8>}
  %0 = qc.quantized_linear %x, %xs zero_point %xz weight %w, %ws bias %b {input_format = #qc.format<uint8>, weight_format = #qc.format<int8>} : (tensor<?x64xi8>, tensor<?x1xf32>, tensor<?x1xi8>, tensor<32x64xi8>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x32xf32>
  // CHECK: qc.quantized_contraction %{{.*}}, %{{.*}} weight %{{.*}}, %{{.*}} init %{{.*}} {indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction", "reduction"], lhs_format = #qc.format<int8>, rhs_channel_dims = array<i64: 0>, rhs_format = #qc.format<int4>}
  %1 = qc.quantized_contraction %u, %us weight %c, %cs init %init {indexing_maps = [affine_map<(t, o, c, k) -> (t + k, c)>, affine_map<(t, o, c, k) -> (o, c, k)>, affine_map<(t, o, c, k) -> (t, o)>], iterator_types = ["parallel", "parallel", "reduction", "reduction"], rhs_channel_dims = array<i64: 0>, lhs_format = #qc.format<int8>, rhs_format = #qc.format<int4>} : (tensor<10x8xi8>, tensor<f32>, tensor<5x8x3xi4>, tensor<5xf32>, tensor<8x5xf32>) -> tensor<8x5xf32>
  return %0, %1 : tensor<?x32xf32>, tensor<8x5xf32>
}

// Mixture formats: the third operand holds each slot's table selector.
// CHECK-LABEL: func.func @mixture
// CHECK-SAME: #qc.scheme<w = bitmod3 channel, a = int8 token dynamic>
// CHECK-SAME: #qc.scheme<w = bitmod4 group 128, a = none>
func.func @mixture(%q: tensor<8x256xi4>, %s: tensor<8x2xf32>, %t: tensor<8x2xi4>, %q3: tensor<8x64xi3>, %s3: tensor<8xf32>, %t3: tensor<8xi3>) -> (tensor<8x256xf32>, tensor<8x64xf32>)
    attributes {w4 = #qc.scheme<w = bitmod4 group 128, a = none>, w3 = #qc.scheme<w = bitmod3 channel, a = int8 token dynamic>} {
  // CHECK: qc.dequantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64, format = #qc.format<bitmod4>, group_size = 128 : i64}
  %a = qc.dequantize %q, %s, %t {axis = 1 : i64, group_size = 128 : i64, format = #qc.format<bitmod4>} : (tensor<8x256xi4>, tensor<8x2xf32>, tensor<8x2xi4>) -> tensor<8x256xf32>
  // CHECK: qc.dequantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 0 : i64, format = #qc.format<bitmod3>}
  %b = qc.dequantize %q3, %s3, %t3 {axis = 0 : i64, format = #qc.format<bitmod3>} : (tensor<8x64xi3>, tensor<8xf32>, tensor<8xi3>) -> tensor<8x64xf32>
  return %a, %b : tensor<8x256xf32>, tensor<8x64xf32>
}
