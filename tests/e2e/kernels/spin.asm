; spin: a guest that never exits, to check that --timeout ends it with a
; report and the counters.
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	mov esi, s_hi
	call puts
.forever:
	jmp .forever

section .data
s_hi: db "spinning", 10, 0
