# -*- Python -*-
# lit runs each GoogleTest case of QuantUnitTests as one test.

import lit.formats

config.name = "quant-unit"
config.test_format = lit.formats.GoogleTest(".", "Tests")
config.test_source_root = config.unit_test_dir
config.test_exec_root = config.unit_test_dir
