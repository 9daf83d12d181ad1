// RUN: quant-opt %s -split-input-file --qc-fuse-hadamard | FileCheck %s
// RUN: quant-opt %s -split-input-file --qc-fuse-hadamard=fuse-into-weights=false | FileCheck %s --check-prefix=PAIRS
// Expected weights are W H_4 / 2 and H_4 W / 2 worked out by hand; blobs are
// little-endian f32 after a 4-byte alignment header (0x08000000):
// 0.5 = 0000003F, 1 = 0000803F, -1 = 000080BF.

// linear(hadamard(x), W) -> linear(x, W H): rows [1,0,0,0] and [0,0,2,0].
// CHECK-LABEL: func.func @input_rotation
// CHECK-SAME: (%[[X:.*]]: tensor<3x4xf32>)
// CHECK-NOT: qc.hadamard
// CHECK: %[[W:.*]] = arith.constant dense_resource<[[BLOB:qc_hadamard_weight[_0-9]*]]> : tensor<2x4xf32>
// CHECK: qc.linear %[[X]], %[[W]] : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
// CHECK: [[BLOB]]: "0x080000000000003F0000003F0000003F0000003F0000803F0000803F000080BF000080BF"
// PAIRS-LABEL: func.func @input_rotation
// PAIRS: qc.hadamard
// PAIRS: qc.linear
func.func @input_rotation(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]> : tensor<2x4xf32>
  %r = qc.hadamard %x : tensor<3x4xf32>
  %y = qc.linear %r, %w : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// hadamard(linear(x, W, b)) -> linear(x, H W, b H): W's first column is e_0,
// so every row of H W starts with 0.5; b = [0, 2, 0, 0] becomes [1, -1, 1, -1].
// CHECK-LABEL: func.func @output_rotation
// CHECK-SAME: (%[[X:.*]]: tensor<2x3xf32>)
// CHECK-DAG: %[[W:.*]] = arith.constant dense_resource<[[WB:qc_hadamard_weight[_0-9]*]]> : tensor<4x3xf32>
// CHECK-DAG: %[[B:.*]] = arith.constant dense_resource<[[BB:qc_hadamard_bias[_0-9]*]]> : tensor<4xf32>
// CHECK: %[[Y:.*]] = qc.linear %[[X]], %[[W]], %[[B]]
// CHECK-NOT: qc.hadamard
// CHECK: return %[[Y]]
// CHECK-DAG: [[WB]]: "0x080000000000003F00000000000000000000003F00000000000000000000003F00000000000000000000003F0000000000000000"
// CHECK-DAG: [[BB]]: "0x080000000000803F000080BF0000803F000080BF"
func.func @output_rotation(%x: tensor<2x3xf32>) -> tensor<2x4xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]> : tensor<4x3xf32>
  %b = arith.constant dense<[0.0, 2.0, 0.0, 0.0]> : tensor<4xf32>
  %y = qc.linear %x, %w, %b : (tensor<2x3xf32>, tensor<4x3xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %r = qc.hadamard %y : tensor<2x4xf32>
  return %r : tensor<2x4xf32>
}

// -----

// Pairs cancel in both modes.
// CHECK-LABEL: func.func @pair
// CHECK-NEXT: return %arg0
// PAIRS-LABEL: func.func @pair
// PAIRS-NEXT: return %arg0
func.func @pair(%x: tensor<2x24xf32>) -> tensor<2x24xf32> {
  %0 = qc.hadamard %x : tensor<2x24xf32>
  %1 = qc.hadamard %0 : tensor<2x24xf32>
  return %1 : tensor<2x24xf32>
}

// -----

// A weight that is not a constant cannot absorb the rotation.
// CHECK-LABEL: func.func @weight_not_constant
// CHECK: %[[R:.*]] = qc.hadamard %arg0
// CHECK: qc.linear %[[R]], %arg1
func.func @weight_not_constant(%x: tensor<3x4xf32>, %w: tensor<2x4xf32>) -> tensor<3x2xf32> {
  %r = qc.hadamard %x : tensor<3x4xf32>
  %y = qc.linear %r, %w : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}

// -----

// The linear's unrotated output is used too: fusing would change it.
// CHECK-LABEL: func.func @linear_has_other_user
// CHECK: %[[Y:.*]] = qc.linear %arg0, %{{.*}} : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
// CHECK: %[[R:.*]] = qc.hadamard %[[Y]]
// CHECK: return %[[Y]], %[[R]]
func.func @linear_has_other_user(%x: tensor<2x4xf32>) -> (tensor<2x4xf32>, tensor<2x4xf32>) {
  %w = arith.constant dense<1.0> : tensor<4x4xf32>
  %y = qc.linear %x, %w : (tensor<2x4xf32>, tensor<4x4xf32>) -> tensor<2x4xf32>
  %r = qc.hadamard %y : tensor<2x4xf32>
  return %y, %r : tensor<2x4xf32>, tensor<2x4xf32>
}

// -----

// A rotation feeding two layers is fused into both; the online op goes away.
// CHECK-LABEL: func.func @two_consumers
// CHECK-NOT: qc.hadamard
// CHECK: qc.linear %arg0
// CHECK: qc.linear %arg0
func.func @two_consumers(%x: tensor<2x8xf32>) -> (tensor<2x3xf32>, tensor<2x5xf32>) {
  %w1 = arith.constant dense<0.25> : tensor<3x8xf32>
  %w2 = arith.constant dense<-1.5> : tensor<5x8xf32>
  %r = qc.hadamard %x : tensor<2x8xf32>
  %a = qc.linear %r, %w1 : (tensor<2x8xf32>, tensor<3x8xf32>) -> tensor<2x3xf32>
  %b = qc.linear %r, %w2 : (tensor<2x8xf32>, tensor<5x8xf32>) -> tensor<2x5xf32>
  return %a, %b : tensor<2x3xf32>, tensor<2x5xf32>
}
