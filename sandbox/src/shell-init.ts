// The script every pane's shell sources at start (notes A1). The pane is only ever sent
// ` __r <hexid>`: the function reads the approved bytes from a file the sandbox cannot change, and
// the prompt hook prints an end marker with the exit status and the cwd, so completion survives
// Ctrl-C and cwd/env persist. The markers are in-band: a command can forge them, so they are for
// display and bookkeeping, never for security decisions.

export const RS = "\x1e";
export const beginMarker = (id: string) => `${RS}PC_BEGIN ${id}${RS}`;
/** Followed by `<rc> <base64 cwd>`, ` x` when the shell is exiting, and RS. */
export const endMarkerPrefix = (id: string) => `${RS}PC_END ${id} `;
export const helloMarker = (nonce: string) => `${RS}PC_HELLO ${nonce}${RS}`;

function singleQuoted(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** `cmdsDir` is where `<id>.sh` (the command) and `<id>.cwd` (its directory) are written, read-only to the shell. */
export function initScript(cmdsDir: string): string {
  return `# PocketCoder pane init (generated; read-only)
set +H
unset HISTFILE
export PAGER=cat GIT_PAGER=cat MANPAGER=cat LESS=-R PIP_PROGRESS_BAR=off TQDM_DISABLE=1 HISTCONTROL=ignorespace
PS1='\\w \\$ '
PS2=''
bind 'set bell-style none' 2>/dev/null
__pc_dir=${singleQuoted(cmdsDir)}
__pc_id=''
__pc_pwd=''
__pc_b64=''
__r() {
  __pc_id=$1
  IFS= builtin read -r -d '' __pc_cwd < "$__pc_dir/$1.cwd"
  builtin printf '\\036PC_BEGIN %s\\036\\n' "$1"
  builtin cd -- "$__pc_cwd" || return
  builtin source "$__pc_dir/$1.sh" < /dev/null
}
__pc_end() {
  if [[ -n $__pc_id ]]; then
    if [[ $PWD != "$__pc_pwd" ]]; then __pc_pwd=$PWD; __pc_b64=$(builtin printf %s "$PWD" | command base64 -w0); fi
    builtin printf '\\n\\036PC_END %s %d %s%s\\036\\n' "$__pc_id" "$1" "$__pc_b64" "$2"
    __pc_id=''
  fi
}
__pc_prompt() { __pc_end $? ''; }
# a command that exits the shell still reports its status, marked " x": the shell is gone with it
__pc_exit() { __pc_end $? ' x'; }
__pc_hello() { builtin printf '\\036PC_HELLO %s\\036\\n' "$1"; }
PROMPT_COMMAND=__pc_prompt
trap __pc_exit EXIT
readonly -f __r __pc_end __pc_prompt __pc_exit __pc_hello
readonly PROMPT_COMMAND __pc_dir
`;
}
