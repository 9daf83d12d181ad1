# quant_add_library(name SRCS...
#                   [DEPENDS targets...]     tablegen targets to build first
#                   [MLIR_LIBS libs...]      MLIR libraries the sources use
#                   [LINK_LIBS libs...])     our own libraries
#
# A static, position-independent library of ours. MLIR libraries are linked
# through mlir_target_link_libraries so that, with MLIR_LINK_MLIR_DYLIB, every
# binary (and the plugin inside Debian's mlir-opt) uses the single libMLIR.so.
function(quant_add_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;MLIR_LIBS;LINK_LIBS" ${ARGN})
  add_mlir_library(${name} ${ARG_UNPARSED_ARGUMENTS}
    EXCLUDE_FROM_LIBMLIR
    DISABLE_INSTALL
    DEPENDS ${ARG_DEPENDS}
    LINK_LIBS PUBLIC ${ARG_LINK_LIBS})
  if(ARG_MLIR_LIBS)
    mlir_target_link_libraries(${name} PUBLIC ${ARG_MLIR_LIBS})
  endif()
endfunction()
