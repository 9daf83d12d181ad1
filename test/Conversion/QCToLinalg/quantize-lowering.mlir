// qc-convert-to-linalg: qc.quantize / qc.dequantize become one elementwise
// linalg.generic each. Scales (and zero points) are read through indexing
// maps per tensor and per channel, with linalg.index + tensor.extract for
// groups. quant-opt does not register the conversion passes, so this runs
// quant-compile up to the linalg phase (canonicalize hoists the constants).
// RUN: quant-compile %s --compile-to=linalg -o - | FileCheck %s

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-DAG: #[[SCALAR:.*]] = affine_map<(d0, d1) -> ()>
// CHECK-DAG: #[[D1:.*]] = affine_map<(d0, d1) -> (d1)>
// CHECK-DAG: #[[D0:.*]] = affine_map<(d0, d1) -> (d0)>

// CHECK-LABEL: func.func @int4_per_tensor
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[S:.*]]: tensor<f32>)
// CHECK-NOT: qc.quantize
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[SCALAR]], #[[ID]]], iterator_types = ["parallel", "parallel"]}
// CHECK-SAME: ins(%[[X]], %[[S]] : tensor<4x8xf32>, tensor<f32>) outs(%{{.*}} : tensor<4x8xi4>)
// CHECK: ^bb0(%[[IN:.*]]: f32, %[[SC:.*]]: f32, %{{.*}}: i4):
// CHECK: %[[Q:.*]] = arith.divf %[[IN]], %[[SC]] : f32
// CHECK: arith.cmpf uno, %[[Q]], %[[Q]]
// CHECK: math.roundeven
// CHECK: arith.minimumf
// CHECK: arith.maximumf
// CHECK: arith.fptosi {{.*}} : f32 to i32
// CHECK: arith.trunci {{.*}} : i32 to i4
// CHECK: } -> tensor<4x8xi4>
func.func @int4_per_tensor(%x: tensor<4x8xf32>, %s: tensor<f32>) -> tensor<4x8xi4> {
  %q = qc.quantize %x, %s {format = #qc.format<int4>} : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xi4>
  return %q : tensor<4x8xi4>
}

// Unsigned formats read the zero point (and codes) zero-extended.
// CHECK-LABEL: func.func @uint8_per_channel_zp
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[S:.*]]: tensor<8xf32>, %[[Z:.*]]: tensor<8xi8>)
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[D1]], #[[D1]], #[[ID]]]
// CHECK-SAME: ins(%[[X]], %[[S]], %[[Z]] : tensor<4x8xf32>, tensor<8xf32>, tensor<8xi8>)
// CHECK: ^bb0(%{{.*}}: f32, %{{.*}}: f32, %[[ZP:.*]]: i8, %{{.*}}: i8):
// CHECK: arith.extui %[[ZP]] : i8 to i32
// CHECK: math.roundeven
// CHECK: arith.addi
// CHECK: arith.trunci {{.*}} : i32 to i8
func.func @uint8_per_channel_zp(%x: tensor<4x8xf32>, %s: tensor<8xf32>, %z: tensor<8xi8>) -> tensor<4x8xi8> {
  %q = qc.quantize %x, %s, %z {format = #qc.format<uint8>, axis = 1 : i64} : (tensor<4x8xf32>, tensor<8xf32>, tensor<8xi8>) -> tensor<4x8xi8>
  return %q : tensor<4x8xi8>
}

// Groups: the scale index along the axis is the loop index divided by the
// group size, which a tiled loop offsets correctly (a floordiv indexing map
// would not be).
// CHECK-LABEL: func.func @int4_grouped
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>, %[[S:.*]]: tensor<4x2xf32>, %[[Z:.*]]: tensor<4x2xi4>)
// CHECK-DAG: %[[G:.*]] = arith.constant 4 : index
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[ID]]]
// CHECK-SAME: ins(%[[X]] : tensor<4x8xf32>)
// CHECK: %[[I0:.*]] = linalg.index 0 : index
// CHECK: %[[I1:.*]] = linalg.index 1 : index
// CHECK: %[[B:.*]] = arith.divui %[[I1]], %[[G]] : index
// CHECK: tensor.extract %[[S]][%[[I0]], %[[B]]] : tensor<4x2xf32>
// CHECK: tensor.extract %[[Z]][%[[I0]], %[[B]]] : tensor<4x2xi4>
// CHECK: arith.extsi {{.*}} : i4 to i32
func.func @int4_grouped(%x: tensor<4x8xf32>, %s: tensor<4x2xf32>, %z: tensor<4x2xi4>) -> tensor<4x8xi4> {
  %q = qc.quantize %x, %s, %z {format = #qc.format<int4>, axis = 1 : i64, group_size = 4 : i64} : (tensor<4x8xf32>, tensor<4x2xf32>, tensor<4x2xi4>) -> tensor<4x8xi4>
  return %q : tensor<4x8xi4>
}

// Float formats: rounded in f32, assembled as an integer code, bitcast.
// CHECK-LABEL: func.func @fp8e4m3_per_channel
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[D0]], #[[ID]]]
// CHECK: arith.bitcast {{.*}} : f32 to i32
// CHECK: math.absf
// CHECK: arith.minimumf
// CHECK: math.roundeven
// CHECK: arith.fptoui
// CHECK: arith.select
// CHECK: %[[C:.*]] = arith.trunci {{.*}} : i32 to i8
// CHECK: %[[F:.*]] = arith.bitcast %[[C]] : i8 to f8E4M3FN
// CHECK: linalg.yield %[[F]] : f8E4M3FN
func.func @fp8e4m3_per_channel(%x: tensor<4x8xf32>, %s: tensor<4xf32>) -> tensor<4x8xf8E4M3FN> {
  %q = qc.quantize %x, %s {format = #qc.format<fp8e4m3>, axis = 0 : i64} : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xf8E4M3FN>
  return %q : tensor<4x8xf8E4M3FN>
}

// CHECK-LABEL: func.func @fp4e2m1_dequantize
// CHECK: linalg.generic {indexing_maps = [#[[ID]], #[[SCALAR]], #[[ID]]]
// CHECK: ^bb0(%[[IN:.*]]: f4E2M1FN, %[[SC:.*]]: f32, %{{.*}}: f32):
// CHECK: %[[B:.*]] = arith.bitcast %[[IN]] : f4E2M1FN to i4
// CHECK: arith.extui %[[B]] : i4 to i32
// CHECK: arith.uitofp
// CHECK: %[[R:.*]] = arith.mulf %{{.*}}, %[[SC]] : f32
// CHECK: linalg.yield %[[R]] : f32
func.func @fp4e2m1_dequantize(%q: tensor<4x8xf4E2M1FN>, %s: tensor<f32>) -> tensor<4x8xf32> {
  %x = qc.dequantize %q, %s {format = #qc.format<fp4e2m1>} : (tensor<4x8xf4E2M1FN>, tensor<f32>) -> tensor<4x8xf32>
  return %x : tensor<4x8xf32>
}

// bf16 scales: the arithmetic runs in f32 and rounds to bf16 where
// QuantMath rounds (q - zp, then the product).
// CHECK-LABEL: func.func @int16_dequantize_bf16
// CHECK: ^bb0(%[[IN:.*]]: i16, %[[SC:.*]]: bf16, %[[ZP:.*]]: i16, %{{.*}}: bf16):
// CHECK: arith.extsi %[[IN]] : i16 to i32
// CHECK: arith.subi
// CHECK: arith.sitofp {{.*}} : i32 to f32
// CHECK: arith.truncf {{.*}} : f32 to bf16
// CHECK: arith.extf {{.*}} : bf16 to f32
// CHECK: arith.extf %[[SC]] : bf16 to f32
// CHECK: arith.mulf
// CHECK: %[[R:.*]] = arith.truncf {{.*}} : f32 to bf16
// CHECK: linalg.yield %[[R]] : bf16
func.func @int16_dequantize_bf16(%q: tensor<4x8xi16>, %s: tensor<8xbf16>, %z: tensor<8xi16>) -> tensor<4x8xbf16> {
  %x = qc.dequantize %q, %s, %z {format = #qc.format<int16>, axis = -1 : i64} : (tensor<4x8xi16>, tensor<8xbf16>, tensor<8xi16>) -> tensor<4x8xbf16>
  return %x : tensor<4x8xbf16>
}

// Dynamic dimensions size the output from the input.
// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>
// CHECK: %[[D:.*]] = tensor.dim %[[X]], %{{.*}} : tensor<?x8xf32>
// CHECK: tensor.empty(%[[D]]) : tensor<?x8xf8E5M2>
// CHECK: linalg.generic
func.func @dynamic(%x: tensor<?x8xf32>, %s: tensor<f32>) -> tensor<?x8xf8E5M2> {
  %q = qc.quantize %x, %s {format = #qc.format<fp8e5m2>} : (tensor<?x8xf32>, tensor<f32>) -> tensor<?x8xf8E5M2>
  return %q : tensor<?x8xf8E5M2>
}

func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
  return %x : tensor<4xf32>
}
