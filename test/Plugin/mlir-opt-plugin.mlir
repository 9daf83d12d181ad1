// Debian's own mlir-opt loads QuantPlugin.so as a dialect and a pass plugin.
// Passes from a plugin register after the command line is parsed, so they are
// named in --pass-pipeline (as for every mlir-opt pass plugin).
// RUN: mlir-opt --load-dialect-plugin=%quant_plugin --load-pass-plugin=%quant_plugin %s --pass-pipeline='builtin.module(func.func(qc-fuse-hadamard))' | FileCheck %s
// RUN: mlir-opt --load-dialect-plugin=%quant_plugin --load-pass-plugin=%quant_plugin --help | FileCheck %s --check-prefix=HELP
// RUN: mlir-opt --load-dialect-plugin=%quant_plugin %s -canonicalize | FileCheck %s --check-prefix=DIALECT
// Without the plugin the stock tool cannot parse qc.
// RUN: not mlir-opt %s 2>&1 | FileCheck %s --check-prefix=NOPLUGIN

// HELP: --qc-fuse-hadamard
// NOPLUGIN: Dialect `qc' not found

// CHECK-LABEL: func.func @f
// CHECK-SAME: (%[[X:.*]]: tensor<3x4xf32>)
// CHECK-NOT: qc.hadamard
// CHECK: qc.linear %[[X]], %{{.*}} : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
// DIALECT-LABEL: func.func @f
// DIALECT: qc.hadamard
// DIALECT: qc.linear
func.func @f(%x: tensor<3x4xf32>) -> tensor<3x2xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]> : tensor<2x4xf32>
  %r = qc.hadamard %x : tensor<3x4xf32>
  %y = qc.linear %r, %w : (tensor<3x4xf32>, tensor<2x4xf32>) -> tensor<3x2xf32>
  return %y : tensor<3x2xf32>
}
