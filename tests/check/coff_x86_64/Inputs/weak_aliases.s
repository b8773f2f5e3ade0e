	.weak	aliased
	.set	aliased, default_func
	.weak	overridden
	.set	overridden, default_func
