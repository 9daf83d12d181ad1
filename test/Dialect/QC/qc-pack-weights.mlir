// RUN: quant-opt %s --qc-pack-weights | FileCheck %s

// Six 3-bit codes: 18 bits in 3 bytes plus the spare byte.
// CHECK-LABEL: func.func @int3
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<4xi8>
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
// CHECK: tensor.extract
// CHECK: arith.bitcast %{{.*}} : i8 to f8E4M3FN
func.func @fp8() -> tensor<4xf8E4M3FN> {
  %c = arith.constant dense<[1.0, -2.0, 448.0, 0.0]> : tensor<4xf8E4M3FN>
  return %c : tensor<4xf8E4M3FN>
}

// A random access (an embedding's row gather) reads the packed bytes
// directly: no unpacked copy of the table is built.
// CHECK-LABEL: func.func @gather_packed
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<4xi8>
// CHECK-NOT: tensor<2x3xi3>
// CHECK: tensor.extract %[[P]]
// CHECK: tensor.extract %[[P]]
// CHECK: arith.trunci %{{.*}} : i32 to i3
// CHECK-NOT: tensor<2x3xi3>
// CHECK: return
func.func @gather_packed(%ids: tensor<5xi64>) -> tensor<5x3xi3> {
  %c = arith.constant dense<[[1, 2, 3], [-1, -4, 0]]> : tensor<2x3xi3>
  %e = tensor.empty() : tensor<5x3xi3>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%ids : tensor<5xi64>) outs(%e : tensor<5x3xi3>) {
  ^bb0(%i: i64, %o: i3):
    %k = arith.index_cast %i : i64 to index
    %j = linalg.index 1 : index
    %v = tensor.extract %c[%k, %j] : tensor<2x3xi3>
    linalg.yield %v : i3
  } -> tensor<5x3xi3>
  return %g : tensor<5x3xi3>
}

// The stream of @int3: 1 | 2<<3 | 3<<6 | 7<<9 | 4<<12 | 0<<15 = 0x4ED1, then
// the zero byte of the last code's high bits and the spare byte (after
// the blob's alignment word 0x08000000).
// CHECK: qc_packed_0: "0x08000000D14E0000"
// @fp8 byte for byte: E4M3 1.0 = 0x38, -2.0 = 0xC0, 448 = 0x7E, 0 = 0x00.
// CHECK: qc_packed_0_1: "0x0800000038C07E00"
