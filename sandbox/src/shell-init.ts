// The script every pane's shell sources at start (notes A1). The pane is only ever sent
// ` __r <hexid>`: the function reads the approved bytes from a file the sandbox cannot change, and
// the prompt hook prints an end marker with the exit status and the cwd, so completion survives
// Ctrl-C and cwd/env persist. The markers are in-band: a command can forge them, so they are for
// display and bookkeeping, never for security decisions.
//
// The command's stdout and stderr go to `<session spool>/<id>.out`, not to the terminal: a pseudo-terminal
// carries ~20 MB/s at best, a file several hundred. The shell's own terminal fds are saved before and
// restored in the prompt hook (or the EXIT trap) before the END marker is printed. The runner writes
// a copy of the output to the pane; the prompt hook waits (a second at most) until it has answered on
// the pane's FIFO `<acksDir>/<pane number>`, so the prompt comes after the output, not in the middle.
// The markers erase themselves from the screen (they stay in the pane log).

export const RS = "\x1e";
export const beginMarker = (id: string) => `${RS}PC_BEGIN ${id}${RS}`;
/** Followed by `<rc> <base64 cwd>`, ` x` when the shell is exiting, and RS. */
export const endMarkerPrefix = (id: string) => `${RS}PC_END ${id} `;
export const helloMarker = (nonce: string) => `${RS}PC_HELLO ${nonce}${RS}`;

function singleQuoted(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * `cmdsDir` is where `<id>.sh` (the command) and `<id>.cwd` (its directory) are written, read-only to
 * the shell; the session's own spool folder, where the shell appends the command's output to
 * `<id>.out`, comes from POCKETCODER_SPOOL in the pane's environment; `acksDir` holds the panes' FIFOs.
 */
export function initScript(cmdsDir: string, acksDir: string): string {
  return `# PocketCoder pane init (generated; read-only)
set +H
unset HISTFILE
export PAGER=cat GIT_PAGER=cat MANPAGER=cat LESS=-R PIP_PROGRESS_BAR=off TQDM_DISABLE=1 HISTCONTROL=ignorespace
PS1='\\w \\$ '
PS2=''
bind 'set bell-style none' 2>/dev/null
__pc_dir=${singleQuoted(cmdsDir)}
__pc_spool=$POCKETCODER_SPOOL
unset POCKETCODER_SPOOL
__pc_acks=${singleQuoted(acksDir)}
__pc_ack=''
__pc_id=''
__pc_pwd=''
__pc_b64=''
__pc_o=''
__pc_e=''
__r() {
  __pc_id=$1
  IFS= builtin read -r -d '' __pc_cwd < "$__pc_dir/$1.cwd"
  builtin printf '\\036PC_BEGIN %s\\036\\r\\033[K' "$1"  # erased from the screen at once
  # bash puts the saved terminal fds on 10 and up, clear of the 3-9 that scripts use by number
  command exec {__pc_o}>&1 {__pc_e}>&2 >> "$__pc_spool/$1.out" 2>&1 || return
  builtin cd -- "$__pc_cwd" || return
  builtin source "$__pc_dir/$1.sh" < /dev/null
}
# back to the terminal; a command that closed or re-pointed the saved fds gets /dev/tty instead
__pc_restore() {
  if [[ $__pc_o == [0-9]* && -t $__pc_o ]]; then command exec 1>&"$__pc_o"; else command exec 1>/dev/tty; fi
  if [[ $__pc_e == [0-9]* && -t $__pc_e ]]; then command exec 2>&"$__pc_e"; else command exec 2>/dev/tty; fi
  [[ $__pc_o == [0-9]* ]] && command exec {__pc_o}>&-
  [[ $__pc_e == [0-9]* ]] && command exec {__pc_e}>&-
  __pc_o=''
  __pc_e=''
}
__pc_end() {
  if [[ -n $__pc_id ]]; then
    __pc_restore
    if [[ $PWD != "$__pc_pwd" ]]; then __pc_pwd=$PWD; __pc_b64=$(builtin printf %s "$PWD" | command base64 -w0); fi
    # saved cursor, marker, cursor back, erased: on screen the prompt follows the output directly
    builtin printf '\\0337\\036PC_END %s %d %s%s\\036\\0338\\033[J' "$__pc_id" "$1" "$__pc_b64" "$2"
    # output is shown by the runner: let it finish that (it answers with the id) before the prompt is drawn
    if [[ -n $__pc_ack && -s $__pc_spool/$__pc_id.out ]]; then
      while IFS= builtin read -r -t 1 -u "$__pc_ack" __pc_got 2>/dev/null && [[ $__pc_got != "$__pc_id" ]]; do :; done
    fi
    __pc_id=''
  fi
}
__pc_prompt() { __pc_end $? ''; }
# a command that exits the shell still reports its status, marked " x": the shell is gone with it
__pc_exit() { __pc_end $? ' x'; }
# \$2: the pane's number, naming its FIFO
__pc_hello() {
  [[ -n $__pc_ack ]] || command exec {__pc_ack}<> "$__pc_acks/$2" || __pc_ack=''
  builtin printf '\\036PC_HELLO %s\\036\\n' "$1"
}
PROMPT_COMMAND=__pc_prompt
trap __pc_exit EXIT
readonly -f __r __pc_restore __pc_end __pc_prompt __pc_exit __pc_hello
readonly PROMPT_COMMAND __pc_dir __pc_spool __pc_acks
`;
}
