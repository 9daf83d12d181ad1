// RUN: quant-opt %s --qc-parallelize | FileCheck %s

// One zero fill (CSE merges equal ones) initialises two matmuls: each gets
// its own fill, so bufferization writes each in place instead of copying
// the shared zeros before every matmul (79 serial copies per MiniLM run
// before); fills and matmuls are then split over threads (scf.forall).
// CHECK-LABEL: func.func @shared_fill
// CHECK-DAG: %[[F1:.*]] = scf.forall {{.*}} -> (tensor<128x384xf32>)
// CHECK-DAG: %[[F2:.*]] = scf.forall {{.*}} -> (tensor<128x384xf32>)
// CHECK: %[[Y1:.*]] = scf.forall {{.*}} shared_outs(%{{.*}} = %[[F2]])
// CHECK: linalg.matmul
// CHECK: %[[Y2:.*]] = scf.forall {{.*}} shared_outs(%{{.*}} = %[[F1]])
// CHECK: linalg.matmul
// CHECK: return %[[Y1]], %[[Y2]]
func.func @shared_fill(%a: tensor<128x384xf32>, %w1: tensor<384x384xf32>, %w2: tensor<384x384xf32>) -> (tensor<128x384xf32>, tensor<128x384xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<128x384xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<128x384xf32>) -> tensor<128x384xf32>
  %y1 = linalg.matmul ins(%a, %w1 : tensor<128x384xf32>, tensor<384x384xf32>) outs(%f : tensor<128x384xf32>) -> tensor<128x384xf32>
  %y2 = linalg.matmul ins(%a, %w2 : tensor<128x384xf32>, tensor<384x384xf32>) outs(%f : tensor<128x384xf32>) -> tensor<128x384xf32>
  return %y1, %y2 : tensor<128x384xf32>, tensor<128x384xf32>
}
