# Turns a SPIR-V binary into a C source file holding it as a uint32_t array.
# Usage: cmake -DIN=x.spv -DOUT=x.c -DSYMBOL=name -P spv_to_c.cmake
file(READ ${IN} hex HEX)
string(LENGTH "${hex}" n)
math(EXPR rem "${n} % 8")
if(NOT rem EQUAL 0 OR n EQUAL 0)
  message(FATAL_ERROR "${IN}: not a whole number of 32-bit words")
endif()
# SPIR-V words are little-endian on disk; write each as a 0x######## literal.
string(REGEX REPLACE "(..)(..)(..)(..)" "0x\\4\\3\\2\\1u," words "${hex}")
string(REGEX REPLACE "((0x[0-9a-f]+u,){8})" "\\1\n    " words "${words}")
math(EXPR nbytes "${n} / 2")
file(WRITE ${OUT} "/* Generated from ${IN}: do not edit. */
#include <stddef.h>
#include <stdint.h>
const uint32_t ${SYMBOL}[] = {
    ${words}
};
const size_t ${SYMBOL}_size = ${nbytes};
")
