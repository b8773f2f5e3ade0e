	.weak	jd_weak
	.set	jd_weak, jd_default
