// A two-layer MLP block after QuaRot-style rotation, before fusion: the
// RMSNorm output is rotated online (qc.hadamard) ahead of the up projection,
// and the up projection's output is rotated before the down projection.
// `quant-opt --qc-fuse-hadamard` moves both rotations into the constant
// weights, leaving no online transform and the same float function.
//
//   build/bin/quant-opt --qc-fuse-hadamard examples/rotated-mlp.mlir
func.func @mlp(%x: tensor<2x8xf32>) -> tensor<2x8xf32> {
  %gamma = arith.constant dense<[1.0, 0.5, 2.0, 1.0, 1.5, 1.0, 0.25, 1.0]> : tensor<8xf32>
  %w_up = arith.constant dense<[
    [ 0.10, -0.20,  0.30,  0.05, -0.15,  0.25, -0.05,  0.40],
    [-0.30,  0.10,  0.20, -0.10,  0.35, -0.25,  0.15,  0.05],
    [ 0.05,  0.15, -0.35,  0.20,  0.10,  0.30, -0.20, -0.10],
    [ 0.25, -0.05,  0.10,  0.30, -0.20,  0.05,  0.35, -0.15]]> : tensor<4x8xf32>
  %b_up = arith.constant dense<[0.01, -0.02, 0.03, 0.0]> : tensor<4xf32>
  %w_down = arith.constant dense<[
    [ 0.20, -0.10,  0.05,  0.30], [-0.15,  0.25,  0.10, -0.05],
    [ 0.30,  0.05, -0.20,  0.10], [ 0.05, -0.30,  0.15,  0.20],
    [-0.10,  0.20,  0.25, -0.15], [ 0.15,  0.10, -0.05,  0.25],
    [ 0.25, -0.20,  0.30,  0.05], [-0.05,  0.15,  0.20, -0.30]]> : tensor<8x4xf32>
  %n = qc.rms_norm %x, %gamma {epsilon = 1.0e-6 : f32} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  %r = qc.hadamard %n : tensor<2x8xf32>
  %h = qc.linear %r, %w_up, %b_up : (tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<2x4xf32>
  %hr = qc.hadamard %h : tensor<2x4xf32>
  %y = qc.linear %hr, %w_down : (tensor<2x4xf32>, tensor<8x4xf32>) -> tensor<2x8xf32>
  return %y : tensor<2x8xf32>
}
