/* The embedded default policy (policy/default.policy), NUL-terminated. */
	.section .rodata
	.globl reuse_default_policy
	.hidden reuse_default_policy
	.type reuse_default_policy, @object
reuse_default_policy:
	.incbin "policy/default.policy"
	.byte 0
	.size reuse_default_policy, . - reuse_default_policy
	.section .note.GNU-stack,"",@progbits
