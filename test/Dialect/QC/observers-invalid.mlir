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

// -----

func.func @patch_alone(%x: tensor<1x2x5x5xf32>) {
  // expected-error @+1 {{patch_kernel, patch_strides and patch_dilations come together, with second_moment}}
  qc.observe %x as "x" {channel_axis = 1 : i64, patch_kernel = array<i64: 3, 3>} : tensor<1x2x5x5xf32>
  return
}

// -----

func.func @patch_rank(%x: tensor<1x2x5x5xf32>) {
  // expected-error @+1 {{patch attributes need one entry per axis after the channel axis (2)}}
  qc.observe %x as "x" {channel_axis = 1 : i64, second_moment, patch_kernel = array<i64: 3>, patch_strides = array<i64: 1>, patch_dilations = array<i64: 1>} : tensor<1x2x5x5xf32>
  return
}

// -----

func.func @patch_zero(%x: tensor<1x2x5x5xf32>) {
  // expected-error @+1 {{patch kernel, strides and dilations must be >= 1}}
  qc.observe %x as "x" {channel_axis = 1 : i64, second_moment, patch_kernel = array<i64: 3, 3>, patch_strides = array<i64: 0, 1>, patch_dilations = array<i64: 1, 1>} : tensor<1x2x5x5xf32>
  return
}
