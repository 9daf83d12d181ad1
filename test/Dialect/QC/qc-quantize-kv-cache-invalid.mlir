// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-quantize-kv-cache="bits=4 group=4"
// RUN: not quant-opt %s -split-input-file --qc-quantize-kv-cache="bits=3" 2>&1 | FileCheck %s --check-prefix=BITS
// RUN: not quant-opt %s -split-input-file --qc-quantize-kv-cache="require-cache=true" 2>&1 | FileCheck %s --check-prefix=REQ
// BITS: bits must be 8 or 4, got 3
// REQ-NOT: @odd
// REQ: no KV cache found (an input appended to by a Concat whose result is an output)

// A group that does not divide the row is an error naming the input.
// expected-error @+1 {{input 'past' is a KV cache whose last dimension is 6: it must be static, a multiple of the group 4 and even (two 4-bit codes a byte)}}
func.func @odd(%p: tensor<1x?x6xf32>, %x: tensor<1x2x6xf32>) -> tensor<1x?x6xf32>
    attributes {qc.input_names = ["past", "x"]} {
  %c = tensor.concat dim(1) %p, %x : (tensor<1x?x6xf32>, tensor<1x2x6xf32>) -> tensor<1x?x6xf32>
  return %c : tensor<1x?x6xf32>
}

// -----

func.func @no_cache(%x: tensor<2x6xf32>) -> tensor<2x6xf32> {
  %y = math.exp %x : tensor<2x6xf32>
  return %y : tensor<2x6xf32>
}
