; echo: prints what the loader and the board give a kernel, so the
; end-to-end test can check them against what it passed: the magic in EAX,
; the command line, module 0, mem_lower/mem_upper, fw_cfg's signature and
; RAM size, an unknown port's value, and CPUID's vendor and address widths.
%include "mb.inc"

section .text
global _start
_start:
	mov esp, stack_top
	mov ebp, ebx                    ; multiboot info
	mov esi, s_magic
	call puts
	call puthex                     ; eax: 2badb002
	call putnl

	mov esi, s_cmdline
	call puts
	test dword [ebp], 1 << 2
	jz .nocmd
	mov esi, [ebp + 16]
	call puts
.nocmd:	call putnl

	mov esi, s_mem
	call puts
	mov eax, [ebp + 4]
	call puthex
	mov al, ' '
	mov dx, COM1
	out dx, al
	mov eax, [ebp + 8]
	call puthex
	call putnl

	mov esi, s_mods
	call puts
	mov eax, [ebp + 20]
	call puthex
	call putnl
	test eax, eax
	jz .nomod
	mov edi, [ebp + 24]
	mov esi, s_modstr
	call puts
	mov esi, [edi + 8]
	call puts
	call putnl
	mov esi, s_moddata              ; module contents: a NUL-terminated text
	call puts
	mov esi, [edi]
	call puts
	call putnl
.nomod:
	; fw_cfg: signature, then RAM size (low 32 bits)
	mov esi, s_fwcfg
	call puts
	mov dx, 0x510
	xor ax, ax
	out dx, ax
	mov dx, 0x511
	mov ecx, 4
.sig:	in al, dx
	push edx
	mov dx, COM1
	out dx, al
	pop edx
	loop .sig
	mov al, ' '
	mov dx, COM1
	out dx, al
	mov dx, 0x510
	mov ax, 3
	out dx, ax
	mov dx, 0x511
	xor ebx, ebx
	mov ecx, 4
.ram:	in al, dx
	ror ebx, 8
	mov bl, al
	loop .ram
	ror ebx, 8
	mov eax, ebx
	call puthex
	call putnl

	mov esi, s_unknown
	call puts
	mov dx, 0x1234
	in eax, dx
	call puthex
	call putnl
	mov dx, 0x1234
	in eax, dx                      ; twice: ombra logs it only once

	mov esi, s_cpuid
	call puts
	xor eax, eax
	cpuid
	mov [vendor], ebx
	mov [vendor + 4], edx
	mov [vendor + 8], ecx
	mov esi, vendor
	call puts
	mov al, ' '
	mov dx, COM1
	out dx, al
	mov eax, 0x80000008
	cpuid
	call puthex
	call putnl

	mov dx, 0xe4                    ; ombra's test device: my RAM at exit is
	out dx, al                      ; deterministic (QEMU: nothing there)
	mov al, 0
	jmp exit

section .data
s_magic:   db "magic ", 0
s_cmdline: db "cmdline ", 0
s_mem:     db "mem_lower/upper ", 0
s_mods:    db "mods ", 0
s_modstr:  db "mod0 string ", 0
s_moddata: db "mod0 data ", 0
s_fwcfg:   db "fw_cfg ", 0
s_unknown: db "port 0x1234 ", 0
s_cpuid:   db "cpuid ", 0
vendor:    times 13 db 0
