# Compiler warnings for vkstruct's own code (not for volk.c or generated shader arrays).
function(vks_set_warnings)
  foreach(t ${ARGN})
    target_compile_options(${t} PRIVATE -Wall -Wextra -Wshadow -Wstrict-prototypes
      -Wmissing-prototypes -Wno-unused-parameter -Wno-missing-field-initializers -Wvla -Wformat=2)
    if(VKS_WERROR)
      target_compile_options(${t} PRIVATE -Werror)
    endif()
  endforeach()
endfunction()

# ASan + UBSan on the given targets; any UB report aborts the test that hit it.
function(vks_enable_sanitizers)
  foreach(t ${ARGN})
    target_compile_options(${t} PRIVATE -fsanitize=address,undefined -fno-sanitize-recover=all
      -fno-omit-frame-pointer)
    target_link_options(${t} PRIVATE -fsanitize=address,undefined)
  endforeach()
endfunction()
