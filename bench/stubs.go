package main

func figScale(e *env, f *Figure)   { e.paydBin() }
