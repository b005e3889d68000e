/* recsize.c - prints the size of one tracked socket's record, for bench/run. */
#include <stdio.h>

#include "core/core.h"

int main(void)
{
	printf("%zu\n", sizeof(struct reuse_sock));
	return 0;
}
