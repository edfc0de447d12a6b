/* A shared library with none of LAPACK's symbols, installed under LAPACK's names
 * (liblapack.so.3, libopenblas.so.0, liblapack.so) in a directory that test_no_lapack puts
 * first on LD_LIBRARY_PATH: vkstruct's run-time loader then finds a library but no dsytrd_. */
int vks_fake_lapack_marker = 1;
