// RUN: quant-opt %s -split-input-file --qc-check-extents --canonicalize --cse --canonicalize | FileCheck %s

// An Add of a tensor reshaped to a run-time shape and an input: both of
// the reshape's extents come from values, so both pairs are checked, with
// the node named from the importer's location.
// CHECK-LABEL: func.func @reshape_add
// CHECK-SAME: (%[[X:.*]]: tensor<?xf32>, %[[S:.*]]: tensor<2xi64>, %[[Y:.*]]: tensor<?x?xf32>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: %[[A0:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: %[[A1:.*]] = arith.index_cast %{{.*}} : i64 to index
// CHECK: %[[D0:.*]] = tensor.dim %[[Y]], %[[C0]]
// CHECK: %[[E0:.*]] = arith.cmpi eq, %[[A0]], %[[D0]] : index
// CHECK: qexec.check %[[E0]], "node 'add' (Add) needs two run-time extents to be equal, but they are {0} and {1}"(%[[A0]], %[[D0]] : index, index)
// CHECK: %[[D1:.*]] = tensor.dim %[[Y]], %[[C1]]
// CHECK: %[[E1:.*]] = arith.cmpi eq, %[[A1]], %[[D1]] : index
// CHECK: qexec.check %[[E1]], "node 'add' (Add){{.*}}"(%[[A1]], %[[D1]] : index, index)
// CHECK-NOT: qexec.check
// CHECK: linalg.generic
#id = affine_map<(d0, d1) -> (d0, d1)>
func.func @reshape_add(%x: tensor<?xf32>, %s: tensor<2xi64>, %y: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %s0 = tensor.extract %s[%c0] : tensor<2xi64>
  %s1 = tensor.extract %s[%c1] : tensor<2xi64>
  %shape = tensor.from_elements %s0, %s1 : tensor<2xi64>
  %r = tensor.reshape %x(%shape) : (tensor<?xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  %i0 = arith.index_cast %s0 : i64 to index
  %i1 = arith.index_cast %s1 : i64 to index
  %e = tensor.empty(%i0, %i1) : tensor<?x?xf32>
  %z = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%r, %y : tensor<?x?xf32>, tensor<?x?xf32>) outs(%e : tensor<?x?xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %sum = arith.addf %a, %b : f32
    linalg.yield %sum : f32
  } -> tensor<?x?xf32> loc(#add_named)
  return %z : tensor<?x?xf32>
}
#add = loc(fused<"Add">["m.onnx":0:0])
#add_named = loc("add"(#add))

// -----

// Extents that are one value, or static on both sides, need no check: an
// elementwise op on one input twice, and a matmul of static operands into
// an init of the same dynamic rows.
// CHECK-LABEL: func.func @provably_equal
// CHECK-NOT: qexec.check
// CHECK: return
#id1 = affine_map<(d0) -> (d0)>
func.func @provably_equal(%x: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %z = linalg.generic {indexing_maps = [#id1, #id1, #id1], iterator_types = ["parallel"]}
      ins(%x, %x : tensor<?xf32>, tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %b : f32
    linalg.yield %m : f32
  } -> tensor<?xf32>
  return %z : tensor<?xf32>
}

// -----

// A qc.linear's inner extent against its weight's, and a cast of a dynamic
// extent to a static one: both checked against the constant.
// CHECK-LABEL: func.func @linear_and_cast
// CHECK-SAME: (%[[X:.*]]: tensor<?x?xf32>, %[[V:.*]]: tensor<?xf32>)
// CHECK-DAG: %[[C8:.*]] = arith.constant 8 : index
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK: %[[K:.*]] = tensor.dim %[[X]], %c1
// CHECK: %[[OK:.*]] = arith.cmpi eq, %[[K]], %[[C8]]
// CHECK: qexec.check %[[OK]], "an operation (qc.linear) needs {{.*}}"(%[[K]], %[[C8]] : index, index)
// CHECK: qc.linear
// CHECK: %[[N:.*]] = tensor.dim %[[V]], %c0
// CHECK: %[[OK2:.*]] = arith.cmpi eq, %[[N]], %[[C3]]
// CHECK: qexec.check %[[OK2]]
// CHECK: tensor.cast %[[V]]
func.func @linear_and_cast(%x: tensor<?x?xf32>, %v: tensor<?xf32>) -> (tensor<?x4xf32>, tensor<3xf32>) {
  %w = arith.constant dense<1.0> : tensor<4x8xf32>
  %y = qc.linear %x, %w : (tensor<?x?xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  %c = tensor.cast %v : tensor<?xf32> to tensor<3xf32>
  return %y, %c : tensor<?x4xf32>, tensor<3xf32>
}

// -----

// Argument dimensions in one input class are the runtime's to compare
// (qc.input_dim_classes); others get a check.
// CHECK-LABEL: func.func @input_classes
// CHECK-SAME: (%[[A:.*]]: tensor<?xf32>, %[[B:.*]]: tensor<?xf32>, %[[C:.*]]: tensor<?xf32>)
// CHECK: %[[DA:.*]] = tensor.dim %[[A]]
// CHECK: %[[DC:.*]] = tensor.dim %[[C]]
// CHECK: arith.cmpi eq, %[[DA]], %[[DC]]
// CHECK: qexec.check
// CHECK-NOT: qexec.check
// CHECK: return
#id2 = affine_map<(d0) -> (d0)>
func.func @input_classes(%a: tensor<?xf32>, %b: tensor<?xf32>, %c: tensor<?xf32>) -> tensor<?xf32>
    attributes {qc.input_dim_classes = [array<i64: 0>, array<i64: 0>, array<i64: -1>]} {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %a, %c0 : tensor<?xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %z = linalg.generic {indexing_maps = [#id2, #id2, #id2, #id2], iterator_types = ["parallel"]}
      ins(%a, %b, %c : tensor<?xf32>, tensor<?xf32>, tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%x: f32, %y: f32, %w: f32, %o: f32):
    %m = arith.mulf %x, %y : f32
    %s = arith.addf %m, %w : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  return %z : tensor<?xf32>
}
