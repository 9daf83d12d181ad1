// RUN: quant-opt %s -split-input-file -verify-diagnostics
// Every verifier error of the qexec dialect.

func.func @check_empty(%c: i1) {
  // expected-error @+1 {{message must not be empty}}
  qexec.check %c, ""
  return
}

// -----

func.func @check_placeholder(%c: i1, %v: index) {
  // expected-error @+1 {{message names value 1 of 1}}
  qexec.check %c, "{0} and {1}" (%v : index)
  return
}

// -----

func.func @check_brace(%c: i1) {
  // expected-error @+1 {{message has a '{' that is not a placeholder {N}}}
  qexec.check %c, "a {b} c"
  return
}
