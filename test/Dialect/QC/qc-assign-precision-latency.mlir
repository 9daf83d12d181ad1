// RUN: quant-opt %s -split-input-file --qc-assign-precision="latency-budget=2.5" --verify-diagnostics | FileCheck %s --check-prefix=LAT

// qc-assign-precision with latencies, and the malformed inputs it rejects.

// Latency: the summed latencies of the chosen candidates within the budget.
// 2.5 ms: int8 for x (1.0 + 1.0 ms, error 0.1 + 0.2) beats the rest.
// LAT-LABEL: func.func @latency
// LAT-SAME: latency_ms = 2.000000e+00
// LAT: qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>
// LAT: qc.scheme = #qc.scheme<w = int4 channel, a = int8 token dynamic>
func.func @latency(%x: tensor<2x64xf32>) -> (tensor<2x8xf32>, tensor<2x8xf32>) {
  %w = arith.constant dense<0.5> : tensor<8x64xf32>
  %a = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>, qc.candidates = [
      {scheme = #qc.scheme<w = int4 channel, a = int8 token dynamic>, error = 1.0 : f64, latency = 0.5 : f64},
      {scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>, error = 0.1 : f64, latency = 1.0 : f64}]} : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  %b = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>, qc.candidates = [
      {scheme = #qc.scheme<w = int4 channel, a = int8 token dynamic>, error = 0.3 : f64, latency = 1.0 : f64},
      {scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>, error = 0.2 : f64, latency = 2.0 : f64}]} : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  return %a, %b : tensor<2x8xf32>, tensor<2x8xf32>
}

// -----

func.func @no_latency(%x: tensor<2x64xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x64xf32>
  // expected-error @+1 {{qc-assign-precision: latency-budget needs every candidate's latency; #qc.scheme<w = int4 channel, a = none> has none}}
  %a = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = none>, qc.candidates = [
      {scheme = #qc.scheme<w = int4 channel, a = none>, error = 1.0 : f64}]} : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  return %a : tensor<2x8xf32>
}

// -----

func.func @bad_candidate(%x: tensor<2x64xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x64xf32>
  // expected-error @+1 {{qc.candidates[1] must be {scheme = #qc.scheme<...>, error = <non-negative float>[, latency = <float>]}}}
  %a = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = none>, qc.candidates = [
      {scheme = #qc.scheme<w = int4 channel, a = none>, error = 1.0 : f64, latency = 1.0 : f64},
      {scheme = #qc.scheme<w = int8 channel, a = none>, error = -1.0 : f64, latency = 1.0 : f64}]} : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  return %a : tensor<2x8xf32>
}

// -----

func.func @empty(%x: tensor<2x64xf32>) -> tensor<2x8xf32> {
  %w = arith.constant dense<0.5> : tensor<8x64xf32>
  // expected-error @+1 {{qc.candidates is empty}}
  %a = qc.linear %x, %w {qc.scheme = #qc.scheme<w = int8 channel, a = none>, qc.candidates = []} : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  return %a : tensor<2x8xf32>
}

// -----

func.func @not_a_layer(%x: tensor<2x64xf32>, %w: tensor<8x64xf32>) -> tensor<2x8xf32> {
  // expected-error @+1 {{qc.candidates on an operation that is no quantizable layer}}
  %a = qc.linear %x, %w {qc.candidates = [
      {scheme = #qc.scheme<w = int4 channel, a = none>, error = 1.0 : f64, latency = 1.0 : f64}]} : (tensor<2x64xf32>, tensor<8x64xf32>) -> tensor<2x8xf32>
  return %a : tensor<2x8xf32>
}
