package main

func figDetect(e *env, f *Figure)  { e.paydBin() }
func figWebhook(e *env, f *Figure) { e.paydBin() }
func figScale(e *env, f *Figure)   { e.paydBin() }
func figCatchup(e *env, f *Figure) { e.paydBin() }
