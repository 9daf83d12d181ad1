// RUN: quant-opt %s -split-input-file --qc-bitplane=mode=on | FileCheck %s --check-prefix=ON
// RUN: quant-opt %s -split-input-file --qc-bitplane=mode=off | FileCheck %s --check-prefix=OFF
// RUN: quant-opt %s -split-input-file --qc-bitplane="mode=auto max-plane-products=2" | FileCheck %s --check-prefix=AUTO
// RUN: quant-opt %s -split-input-file --qc-bitplane="mode=auto max-plane-products=2 max-activation-bits=1" | FileCheck %s --check-prefix=AUTO-A1
// RUN: quant-opt %s -split-input-file --qc-bitplane --verify-diagnostics | FileCheck %s --check-prefix=DEFAULT
// RUN: not quant-opt %s --qc-bitplane=mode=sometimes 2>&1 | FileCheck %s --check-prefix=BAD

// qc-bitplane marks the integer linears computed as bit planes: `on` every
// one with a constant weight, `off` none, `auto` those with weight bits x
// activation bits <= max-plane-products (0 by default: none) and activation
// bits <= max-activation-bits.

// ON-LABEL: func.func @w1a2
// ON: qc.quantized_linear {{.*}}qc.encoding = #qc.encoding<bitplane>
// OFF-LABEL: func.func @w1a2
// OFF-NOT: qc.encoding
// AUTO-LABEL: func.func @w1a2
// AUTO: qc.quantized_linear {{.*}}qc.encoding = #qc.encoding<bitplane>
// AUTO-A1-LABEL: func.func @w1a2
// AUTO-A1-NOT: qc.encoding
// DEFAULT-LABEL: func.func @w1a2
// DEFAULT-NOT: qc.encoding
// BAD: qc-bitplane: mode must be on, off or auto, got 'sometimes'
func.func @w1a2(%x: tensor<?x96xi2>, %xs: tensor<f32>) -> tensor<?x8xf32> {
  %w = arith.constant dense<1> : tensor<8x96xi1>
  %ws = arith.constant dense<0.5> : tensor<8xf32>
  %y = qc.quantized_linear %x, %xs weight %w, %ws
      {input_format = #qc.format<uint2>, weight_format = #qc.format<uint1>}
      : (tensor<?x96xi2>, tensor<f32>, tensor<8x96xi1>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// ON-LABEL: func.func @w4a8
// ON: qc.quantized_linear {{.*}}qc.encoding = #qc.encoding<bitplane>
// AUTO-LABEL: func.func @w4a8
// AUTO-NOT: qc.encoding
func.func @w4a8(%x: tensor<3x64xi8>, %xs: tensor<f32>) -> tensor<3x4xf32> {
  %w = arith.constant dense<-3> : tensor<4x64xi4>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %y = qc.quantized_linear %x, %xs weight %w, %ws
      {input_format = #qc.format<int8>, weight_format = #qc.format<int4>}
      : (tensor<3x64xi8>, tensor<f32>, tensor<4x64xi4>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// A weight that is not a constant stays unmarked (it is computed in float).
// ON-LABEL: func.func @runtime_weight
// ON-NOT: qc.encoding
func.func @runtime_weight(%x: tensor<3x64xi2>, %xs: tensor<f32>, %w: tensor<4x64xi1>) -> tensor<3x4xf32> {
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %y = qc.quantized_linear %x, %xs weight %w, %ws
      {input_format = #qc.format<uint2>, weight_format = #qc.format<uint1>}
      : (tensor<3x64xi2>, tensor<f32>, tensor<4x64xi1>, tensor<4xf32>) -> tensor<3x4xf32>
  return %y : tensor<3x4xf32>
}

// -----

// auto follows a measured choice (qc.bitplane) over the rule; on and off
// ignore it.
// AUTO-LABEL: func.func @hinted
// AUTO: qc.quantized_linear {{.*}}qc.bitplane = false
// AUTO-NOT: qc.encoding
// AUTO: qc.quantized_linear {{.*}}qc.bitplane = true{{.*}}qc.encoding = #qc.encoding<bitplane>
// DEFAULT-LABEL: func.func @hinted
// DEFAULT: qc.quantized_linear {{.*}}qc.bitplane = false
// DEFAULT-NOT: qc.encoding
// DEFAULT: qc.quantized_linear {{.*}}qc.bitplane = true{{.*}}qc.encoding = #qc.encoding<bitplane>
// AUTO-A1-LABEL: func.func @hinted
// ON-LABEL: func.func @hinted
// ON: qc.bitplane = false{{.*}}qc.encoding = #qc.encoding<bitplane>
// OFF-LABEL: func.func @hinted
// OFF-NOT: qc.encoding
func.func @hinted(%x: tensor<3x64xi2>, %xs: tensor<f32>) -> (tensor<3x4xf32>, tensor<3x4xf32>) {
  %w = arith.constant dense<1> : tensor<4x64xi2>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %a = qc.quantized_linear %x, %xs weight %w, %ws
      {input_format = #qc.format<int2>, weight_format = #qc.format<int2>, qc.bitplane = false}
      : (tensor<3x64xi2>, tensor<f32>, tensor<4x64xi2>, tensor<4xf32>) -> tensor<3x4xf32>
  %w8 = arith.constant dense<-7> : tensor<4x64xi8>
  %b = qc.quantized_linear %x, %xs weight %w8, %ws
      {input_format = #qc.format<int2>, weight_format = #qc.format<int8>, qc.bitplane = true}
      : (tensor<3x64xi2>, tensor<f32>, tensor<4x64xi8>, tensor<4xf32>) -> tensor<3x4xf32>
  return %a, %b : tensor<3x4xf32>, tensor<3x4xf32>
}
