// qc graph ops with run-time operands, compiled to a model.so and checked
// against numpy in check_qc_ops.py.
func.func @main(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %g: tensor<8xf32>,
                %a: tensor<2x3x8xf32>, %b: tensor<2x5x8xf32>)
    -> (tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<2x3x5xf32>)
    attributes {qc.input_names = ["x", "w", "g", "a", "b"],
                qc.output_names = ["linear", "rms", "ln", "had", "bmm"]} {
  %y = qc.linear %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  %r = qc.rms_norm %x, %g {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %l = qc.layer_norm %x, %g, %g : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %h = qc.hadamard %x : tensor<?x8xf32>
  %m = qc.batch_matmul %a, %b {transpose_rhs} : (tensor<2x3x8xf32>, tensor<2x5x8xf32>) -> tensor<2x3x5xf32>
  return %y, %r, %l, %h, %m : tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>, tensor<2x3x5xf32>
}
