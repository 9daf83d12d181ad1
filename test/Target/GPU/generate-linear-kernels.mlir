// RUN: quant-opt %s --split-input-file --qc-gpu-generate-linear-kernels | FileCheck %s

// A W8A8 layer with per-token activation scales, per-channel weight scales
// and a bias: two kernels (rows, few rows), named on the op.
// CHECK-LABEL: func.func @w8a8
// CHECK: qc.quantized_linear
// CHECK-SAME: qc.gpu_kernels = [@qc_gpu_kernels::@linear_s8_n96_k64_xrow_wchannel_bias_b64x128x64_w2x4, @qc_gpu_kernels::@linear_s8_n96_k64_xrow_wchannel_bias_b16x64x64_w1x4]
// CHECK: gpu.module @qc_gpu_kernels
// The descriptor-passed operands: x [M, K] i8, s_x, w [N, K], s_w, bias, y.
// CHECK: gpu.func @linear_s8_n96_k64_xrow_wchannel_bias_b64x128x64_w2x4(%{{.*}}: memref<?x64xi8>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<96x64xi8>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<96xf32>, %{{.*}}: memref<?x96xf32>)
// Tiles in shared memory, rows padded by 16 bytes.
// CHECK-SAME: workgroup(%{{.*}} : memref<64x80xi8, #gpu.address_space<workgroup>>, %{{.*}} : memref<128x80xi8, #gpu.address_space<workgroup>>)
// CHECK-SAME: kernel
// CHECK-SAME: known_block_size = array<i32: 256, 1, 1>
// CHECK: scf.for
// 16-byte loads from global memory, the K tail masked.
// CHECK: vector.load {{.*}} {alignment = 16 : i64} : memref<?x64xi8>, vector<16xi8>
// CHECK: vector.maskedload
// CHECK: gpu.barrier
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 32]} : (vector<4x4xi8>, vector<2x4xi8>, vector<2x2xi32>) -> vector<2x2xi32>
// CHECK: gpu.barrier
// The epilogue: y = bias + s_x[row] * s_w[col] * acc.
// CHECK: arith.sitofp
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: memref.store
// CHECK: gpu.func @linear_s8_n96_k64_xrow_wchannel_bias_b16x64x64_w1x4
// CHECK-SAME: workgroup(%{{.*}} : memref<16x80xi8, #gpu.address_space<workgroup>>, %{{.*}} : memref<64x80xi8, #gpu.address_space<workgroup>>)
// CHECK-SAME: known_block_size = array<i32: 128, 1, 1>
func.func @w8a8(%x: tensor<?x64xi8>, %xs: tensor<?x1xf32>, %w: tensor<96x64xi8>, %ws: tensor<96xf32>, %b: tensor<96xf32>) -> tensor<?x96xf32> {
  %y = qc.quantized_linear %x, %xs weight %w, %ws bias %b
      {input_format = #qc.format<int8>, weight_format = #qc.format<int8>}
      : (tensor<?x64xi8>, tensor<?x1xf32>, tensor<96x64xi8>, tensor<96xf32>, tensor<96xf32>) -> tensor<?x96xf32>
  return %y : tensor<?x96xf32>
}

// -----

// Unsigned 8-bit activations with a per-tensor zero point: staged as x - 128
// (xor 0x80), the epilogue subtracts (z - 128) * sum_k w.
// CHECK-LABEL: func.func @u8
// CHECK: qc.gpu_kernels = [@qc_gpu_kernels::@linear_s8_n10_k48_xtensor_xzp_xu8_wtensor_b64x32x64_w2x1
// CHECK: gpu.func @linear_s8_n10_k48_xtensor_xzp_xu8_wtensor_b64x32x64_w2x1(%{{.*}}: memref<?x48xi8>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<?xi32>, %{{.*}}: memref<10x48xi8>, %{{.*}}: memref<?xf32>, %{{.*}}: memref<10xi32>, %{{.*}}: memref<?x10xf32>)
// CHECK: arith.constant dense<-128> : vector<16xi8>
// CHECK: arith.xori
// CHECK: nvgpu.mma.sync
// CHECK: arith.constant 128 : i32
// CHECK: arith.subi
// CHECK: arith.muli
func.func @u8(%x: tensor<?x48xi8>, %xs: tensor<f32>, %xz: tensor<i8>, %w: tensor<10x48xi8>, %ws: tensor<f32>) -> tensor<?x10xf32> {
  %y = qc.quantized_linear %x, %xs zero_point %xz weight %w, %ws
      {input_format = #qc.format<uint8>, weight_format = #qc.format<int8>}
      : (tensor<?x48xi8>, tensor<f32>, tensor<i8>, tensor<10x48xi8>, tensor<f32>) -> tensor<?x10xf32>
  return %y : tensor<?x10xf32>
}

// -----

// A float layer: f16 mma with f32 accumulation; rows of 40 halves (80
// bytes) still take 16-byte loads. Two layers of one shape share kernels.
// CHECK-LABEL: func.func @float
// CHECK: qc.linear {{.*}}qc.gpu_kernels = [@qc_gpu_kernels::@linear_f16_n24_k40_b64x32x32_w2x1, @qc_gpu_kernels::@linear_f16_n24_k40_b16x64x32_w1x4]
// CHECK: qc.linear {{.*}}qc.gpu_kernels = [@qc_gpu_kernels::@linear_f16_n24_k40_b64x32x32_w2x1, @qc_gpu_kernels::@linear_f16_n24_k40_b16x64x32_w1x4]
// CHECK: gpu.func @linear_f16_n24_k40_b64x32x32_w2x1(%{{.*}}: memref<?x40xf16>, %{{.*}}: memref<24x40xf16>, %{{.*}}: memref<?x24xf32>)
// CHECK: vector.load {{.*}} {alignment = 16 : i64} : memref<?x40xf16>, vector<8xf16>
// CHECK: nvgpu.mma.sync({{.*}}) {mmaShape = [16, 8, 16]} : (vector<4x2xf16>, vector<2x2xf16>, vector<2x2xf32>) -> vector<2x2xf32>
// CHECK: gpu.func @linear_f16_n24_k40_b16x64x32_w1x4
// CHECK-NOT: gpu.func
func.func @float(%x: tensor<?x40xf32>, %w: tensor<24x40xf32>, %w2: tensor<24x40xf32>) -> (tensor<?x24xf32>, tensor<?x24xf32>) {
  %y = qc.linear %x, %w : (tensor<?x40xf32>, tensor<24x40xf32>) -> tensor<?x24xf32>
  %z = qc.linear %x, %w2 : (tensor<?x40xf32>, tensor<24x40xf32>) -> tensor<?x24xf32>
  return %y, %z : tensor<?x24xf32>, tensor<?x24xf32>
}

// -----

// Layers no kernel covers yet keep no annotation and add no gpu.module:
// unsigned 8-bit weights.
// CHECK-LABEL: func.func @uncovered
// CHECK-NOT: qc.gpu_kernels
// CHECK-NOT: gpu.module
func.func @uncovered(%x: tensor<?x64xi8>, %xs: tensor<f32>, %w: tensor<8x64xi8>, %ws: tensor<f32>) -> tensor<?x8xf32> {
  %y = qc.quantized_linear %x, %xs weight %w, %ws
      {input_format = #qc.format<int8>, weight_format = #qc.format<uint8>}
      : (tensor<?x64xi8>, tensor<f32>, tensor<8x64xi8>, tensor<f32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}
