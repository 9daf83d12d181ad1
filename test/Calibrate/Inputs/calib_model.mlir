// A calibration model as the compiler builds them: the model's output (y)
// first, then the activations to observe (the inputs of each layer).
func.func @main(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) -> (tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x4xf32>)
    attributes {qc.input_names = ["x", "w"], qc.output_names = ["y", "obs_x", "obs_h"]} {
  %h = qc.linear %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  %y = qc.hadamard %h : tensor<?x4xf32>
  return %y, %x, %h : tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x4xf32>
}
