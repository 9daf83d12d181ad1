// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-import-quant | FileCheck %s
// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-import-quant -canonicalize | FileCheck %s --check-prefix=CANON

// CHECK-LABEL: func.func @per_tensor
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK-DAG: %[[S:.*]] = arith.constant dense<5.000000e-01> : tensor<f32>
// CHECK-DAG: %[[Z:.*]] = arith.constant dense<3> : tensor<i8>
// CHECK: %[[Q:.*]] = qc.quantize %[[X]], %[[S]], %[[Z]] {format = #qc.format<int8>} : (tensor<4xf32>, tensor<f32>, tensor<i8>) -> tensor<4xi8>
// CHECK: %[[C:.*]] = quant.scast %[[Q]] : tensor<4xi8> to tensor<4x!quant.uniform<i8:f32, 5.000000e-01:3>>
// CHECK: %[[B:.*]] = quant.scast %[[C]] : tensor<4x!quant.uniform<i8:f32, 5.000000e-01:3>> to tensor<4xi8>
// CHECK: qc.dequantize %[[B]], %{{.*}}, %{{.*}} {format = #qc.format<int8>} : (tensor<4xi8>, tensor<f32>, tensor<i8>) -> tensor<4xf32>
// CHECK-NOT: quant.qcast
// CHECK-NOT: quant.dcast
// The lossy round trip survives canonicalization (upstream would fold
// dcast(qcast(x)) to x); the inverse storage casts fold away.
// CANON-LABEL: func.func @per_tensor
// CANON: %[[Q:.*]] = qc.quantize
// CANON-NOT: quant.scast
// CANON: qc.dequantize %[[Q]]
func.func @per_tensor(%x: tensor<4xf32>) -> tensor<4xf32> {
  %q = quant.qcast %x : tensor<4xf32> to tensor<4x!quant.uniform<i8:f32, 0.5:3>>
  %d = quant.dcast %q : tensor<4x!quant.uniform<i8:f32, 0.5:3>> to tensor<4xf32>
  return %d : tensor<4xf32>
}

// -----

// Per axis, unsigned 4-bit storage.
// CHECK-LABEL: func.func @per_axis
// CHECK-DAG: arith.constant dense<[5.000000e-01, 2.500000e-01, 1.000000e+00]> : tensor<3xf32>
// Zero points 8, 0, 7 as i4 bit patterns (printed signed: 8 is -8).
// CHECK-DAG: arith.constant dense<[-8, 0, 7]> : tensor<3xi4>
// CHECK: qc.quantize %{{.*}}, %{{.*}}, %{{.*}} {axis = 1 : i64, format = #qc.format<uint4>} : (tensor<2x3xf32>, tensor<3xf32>, tensor<3xi4>) -> tensor<2x3xi4>
func.func @per_axis(%x: tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<u4:f32:1, {0.5:8, 0.25, 1.0:7}>> {
  %q = quant.qcast %x : tensor<2x3xf32> to tensor<2x3x!quant.uniform<u4:f32:1, {0.5:8, 0.25, 1.0:7}>>
  return %q : tensor<2x3x!quant.uniform<u4:f32:1, {0.5:8, 0.25, 1.0:7}>>
}

// -----

// Symmetric types need no zero point operand.
// CHECK-LABEL: func.func @symmetric
// CHECK: qc.dequantize %{{.*}}, %{{.*}} {format = #qc.format<int8>} : (tensor<8xi8>, tensor<f32>) -> tensor<8xf32>
func.func @symmetric(%q: tensor<8x!quant.uniform<i8:f32, 0.125>>) -> tensor<8xf32> {
  %d = quant.dcast %q : tensor<8x!quant.uniform<i8:f32, 0.125>> to tensor<8xf32>
  return %d : tensor<8xf32>
}

// -----

func.func @narrow_range(%x: tensor<4xf32>) -> tensor<4x!quant.uniform<i8<-127:127>:f32, 0.5>> {
  // expected-error @+1 {{cannot express '!quant.uniform<i8<-127:127>:f32, 5.000000e-01>' in qc: its storage range is narrower than the storage type}}
  %q = quant.qcast %x : tensor<4xf32> to tensor<4x!quant.uniform<i8<-127:127>:f32, 0.5>>
  return %q : tensor<4x!quant.uniform<i8<-127:127>:f32, 0.5>>
}

// -----

func.func @too_wide(%q: tensor<4x!quant.uniform<i32:f32, 0.5>>) -> tensor<4xf32> {
  // expected-error @+1 {{cannot express '!quant.uniform<i32:f32, 5.000000e-01>' in qc: storage wider than 16 bits}}
  %d = quant.dcast %q : tensor<4x!quant.uniform<i32:f32, 0.5>> to tensor<4xf32>
  return %d : tensor<4xf32>
}
