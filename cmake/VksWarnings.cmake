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

# ASan + UBSan on the given targets (VKS_SANITIZE); any UB report aborts the test that hit
# it. With VKS_TSAN instead: ThreadSanitizer (it cannot be combined with ASan).
function(vks_enable_sanitizers)
  if(VKS_TSAN)
    set(flags -fsanitize=thread)
  else()
    set(flags -fsanitize=address,undefined -fno-sanitize-recover=all)
  endif()
  foreach(t ${ARGN})
    target_compile_options(${t} PRIVATE ${flags} -fno-omit-frame-pointer)
    target_link_options(${t} PRIVATE ${flags})
  endforeach()
endfunction()
