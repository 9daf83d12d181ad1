// RUN: quant-opt %s --split-input-file --verify-diagnostics --pass-pipeline='builtin.module(qc-expose-observers)'

func.func @nested(%x: tensor<8xf32>, %c: i1) {
  scf.if %c {
    // expected-error @+1 {{an observer must sit in a function's entry block}}
    qc.observe %x as "x" : tensor<8xf32>
  }
  return
}

// -----

func.func @needs_axis(%x: tensor<8xf32>) {
  // expected-error @+1 {{second_moment needs a channel_axis}}
  qc.observe %x as "x" {second_moment} : tensor<8xf32>
  return
}
