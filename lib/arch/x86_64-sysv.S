/* SPDX-License-Identifier: MIT */
/*
 * x86_64-sysv.S — coroutine context switch for x86-64, System V ABI.
 *
 * Saved frame, growing down from the caller's stack (sp = what *save_sp gets):
 *
 *      +--------+  higher addresses
 *   48 |  rip   |  resume address (pushed by the caller's `call`)
 *   40 |  rbp   |
 *   32 |  rbx   |
 *   24 |  r12   |  new context: entry function (CR_CTX_FN_SLOT = 3)
 *   16 |  r13   |  new context: its argument   (CR_CTX_ARG_SLOT = 2)
 *    8 |  r14   |
 *    0 |  r15   |  <- saved sp
 *      +--------+
 *
 * Only the callee-saved general registers are kept: the caller of
 * cr__ctx_switch already assumes every other register is clobbered. MXCSR and
 * the x87 control word are thread-wide state here (see lib/ctx.h).
 * We resume with an indirect `jmp`, never `ret`, so the return-stack predictor
 * is not left unbalanced by a `ret` that goes somewhere its `call` didn't.
 */
    .text
    .globl  cr__ctx_switch
    .hidden cr__ctx_switch
    .type   cr__ctx_switch, @function
    .p2align 4
/* void *cr__ctx_switch(void **save_sp [rdi], void *to_sp [rsi], void *transfer [rdx]) */
cr__ctx_switch:
    .cfi_startproc
    endbr64
    pushq   %rbp
    pushq   %rbx
    pushq   %r12
    pushq   %r13
    pushq   %r14
    pushq   %r15
    movq    %rsp, (%rdi)
    movq    %rsi, %rsp
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    popq    %rcx
    movq    %rdx, %rax
    jmpq    *%rcx
    .cfi_endproc
    .size   cr__ctx_switch, .-cr__ctx_switch

    .globl  cr__ctx_entry
    .hidden cr__ctx_entry
    .type   cr__ctx_entry, @function
    .p2align 4
/* Reached by the jmp above on a fresh frame: r12 = fn, r13 = arg, rsp 16-aligned. */
cr__ctx_entry:
    .cfi_startproc
    .cfi_undefined rip
    endbr64
    movq    %r13, %rdi
    callq   *%r12
    ud2                     /* fn must never return */
    .cfi_endproc
    .size   cr__ctx_entry, .-cr__ctx_entry

    .section .note.GNU-stack,"",@progbits
