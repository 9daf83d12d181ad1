// RUN: quant-opt %s -split-input-file --qc-assign-precision="avg-wbits=4" | FileCheck %s --check-prefix=AVG4
// RUN: quant-opt %s -split-input-file --qc-assign-precision="avg-wbits=3" | FileCheck %s --check-prefix=AVG3
// RUN: quant-opt %s -split-input-file --qc-assign-precision="size-budget=0.062" | FileCheck %s --check-prefix=SIZE
// RUN: quant-opt %s -split-input-file --qc-assign-precision="size-budget=0.062 avg-wbits=4" | FileCheck %s --check-prefix=BOTH
// RUN: quant-opt %s -split-input-file --qc-assign-precision | FileCheck %s --check-prefix=NONE
// RUN: not quant-opt %s -split-input-file --qc-assign-precision="avg-wbits=1.5" 2>&1 | FileCheck %s --check-prefix=INFEASIBLE
// RUN: not quant-opt %s -split-input-file --qc-assign-precision="size-budget=0.0163" 2>&1 | FileCheck %s --check-prefix=FIXED

// Three linears of 16384, 16384 and 32768 weights and a float one of 4096
// (16384 bytes) without candidates. Each candidate layer may take int2 g128,
// int4 g128 or int8 per channel, with the errors below. The answers were
// worked out by hand (every assignment enumerated):
//  - avg-wbits=4 (bA + bB + 2 bC <= 16): a=int8, b=int4, c=int2 (error 0.9;
//    all int4 errs 1.6);
//  - avg-wbits=3 (<= 12): a=int4, b=int4, c=int2 (1.8);
//  - size-budget 62000 bytes, 45616 of them for the candidate layers (int2
//    g128 / int4 g128 / int8 channel: a, b 4608 / 8704 / 16640; c 9216 /
//    17408 / 33280): a=int8, b=int4, c=int4 (42752 bytes, error 0.70; a=int8,
//    b=int8, c=int2 takes 42496 for 0.71);
//  - both: a=int8, b=int4, c=int2 again (the 0.70 answer has 20 / 4 bits);
//  - the cheapest assignment has 2 bits a weight.

// AVG4-LABEL: func.func @three
// AVG4-SAME: qc.precision = {avg_wbits = 4.000000e+00 : f64, bytes = 50944 : i64, error = {{8.99999|9.00000}}{{[0-9]*}}e-01 : f64, layers = 3 : i64}
// AVG4: qc.linear {{.*}}qc.scheme = #qc.scheme<w = int8 channel, a = none>}
// AVG4: qc.linear {{.*}}qc.scheme = #qc.scheme<w = int4 group 128, a = none>}
// AVG4: qc.linear {{.*}}qc.scheme = #qc.scheme<w = int2 group 128, a = none>}
// AVG4: qc.linear {{.*}}qc.scheme = #qc.scheme<float>}
// AVG4-NOT: qc.candidates

// AVG3-LABEL: func.func @three
// AVG3-SAME: avg_wbits = 3.000000e+00
// AVG3: qc.scheme = #qc.scheme<w = int4 group 128, a = none>}
// AVG3: qc.scheme = #qc.scheme<w = int4 group 128, a = none>}
// AVG3: qc.scheme = #qc.scheme<w = int2 group 128, a = none>}

// SIZE-LABEL: func.func @three
// SIZE-SAME: bytes = 59136 : i64
// SIZE: qc.scheme = #qc.scheme<w = int8 channel, a = none>}
// SIZE: qc.scheme = #qc.scheme<w = int4 group 128, a = none>}
// SIZE: qc.scheme = #qc.scheme<w = int4 group 128, a = none>}

// BOTH-LABEL: func.func @three
// BOTH: qc.scheme = #qc.scheme<w = int8 channel, a = none>}
// BOTH: qc.scheme = #qc.scheme<w = int4 group 128, a = none>}
// BOTH: qc.scheme = #qc.scheme<w = int2 group 128, a = none>}

// Without a budget the schemes stay and the candidates go.
// NONE-LABEL: func.func @three
// NONE-NOT: qc.precision
// NONE: qc.scheme = #qc.scheme<w = int4 group 128, a = none>}
// NONE-NOT: qc.candidates

// INFEASIBLE: error: qc-assign-precision: no assignment of the candidates meets avg-wbits 1.5 (the cheapest needs 2.000)
// FIXED: error: qc-assign-precision: size-budget 0.0163 MB is spent by the layers without candidates alone (0.016 MB)
func.func @three(%x: tensor<2x256xf32>) -> (tensor<2x64xf32>, tensor<2x64xf32>, tensor<2x128xf32>, tensor<2x16xf32>) {
  %wa = arith.constant dense<0.5> : tensor<64x256xf32>
  %wb = arith.constant dense<0.25> : tensor<64x256xf32>
  %wc = arith.constant dense<0.125> : tensor<128x256xf32>
  %wd = arith.constant dense<1.0> : tensor<16x256xf32>
  %a = qc.linear %x, %wa {qc.scheme = #qc.scheme<w = int4 group 128, a = none>, qc.candidates = [
      {scheme = #qc.scheme<w = int2 group 128, a = none>, error = 10.0 : f64},
      {scheme = #qc.scheme<w = int4 group 128, a = none>, error = 1.0 : f64},
      {scheme = #qc.scheme<w = int8 channel, a = none>, error = 0.1 : f64}]} : (tensor<2x256xf32>, tensor<64x256xf32>) -> tensor<2x64xf32> loc("a")
  %b = qc.linear %x, %wb {qc.scheme = #qc.scheme<w = int4 group 128, a = none>, qc.candidates = [
      {scheme = #qc.scheme<w = int2 group 128, a = none>, error = 0.5 : f64},
      {scheme = #qc.scheme<w = int4 group 128, a = none>, error = 0.2 : f64},
      {scheme = #qc.scheme<w = int8 channel, a = none>, error = 0.01 : f64}]} : (tensor<2x256xf32>, tensor<64x256xf32>) -> tensor<2x64xf32> loc("b")
  %c = qc.linear %x, %wc {qc.scheme = #qc.scheme<w = int4 group 128, a = none>, qc.candidates = [
      {scheme = #qc.scheme<w = int2 group 128, a = none>, error = 0.6 : f64},
      {scheme = #qc.scheme<w = int4 group 128, a = none>, error = 0.4 : f64},
      {scheme = #qc.scheme<w = int8 channel, a = none>, error = 0.02 : f64}]} : (tensor<2x256xf32>, tensor<128x256xf32>) -> tensor<2x128xf32> loc("c")
  %d = qc.linear %x, %wd {qc.scheme = #qc.scheme<float>} : (tensor<2x256xf32>, tensor<16x256xf32>) -> tensor<2x16xf32> loc("d")
  return %a, %b, %c, %d : tensor<2x64xf32>, tensor<2x64xf32>, tensor<2x128xf32>, tensor<2x16xf32>
}

