# kpg_warnings(target): the warning set every kpg target compiles with. Third-party and generated
# code (protobuf) is kept out of it on purpose.
function(kpg_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wold-style-cast -Wcast-align -Woverloaded-virtual)
  if(KPG_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
