// RUN: quant-opt %s --qc-pack-weights | FileCheck %s

// Three 3-bit codes per row: 9 bits in 2 bytes plus the spare byte. Row 0
// is 1, 2, 3 -> 0b011_010_001 -> bytes 0xD1 (209 = -47), 0x00.
// CHECK-LABEL: func.func @int3
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<2x3xi8>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3xi3>)
// CHECK: tensor.extract %[[P]]
// CHECK: arith.shrui
// CHECK: arith.trunci %{{.*}} : i32 to i3
func.func @int3() -> tensor<2x3xi3> {
  %c = arith.constant dense<[[1, 2, 3], [-1, -4, 0]]> : tensor<2x3xi3>
  return %c : tensor<2x3xi3>
}

// FP8 is stored byte for byte and bitcast back.
// CHECK-LABEL: func.func @fp8
// CHECK: arith.constant dense_resource<{{.*}}> : tensor<4xi8>
// CHECK: arith.bitcast %{{.*}} : i8 to f8E4M3FN
func.func @fp8() -> tensor<4xf8E4M3FN> {
  %c = arith.constant dense<[1.0, -2.0, 448.0, 0.0]> : tensor<4xf8E4M3FN>
  return %c : tensor<4xf8E4M3FN>
}
