#!/usr/bin/env bash
# Commit the state file ind_alert.py wrote and push it, without losing anyone else's push.
#
# Usage: .github/commit-state.sh [SUMMARY]
#   The commit message is "state: SUMMARY" (default "state: update seen slots").
#
# Environment (all optional):
#   STATE_FILE      file to commit, relative to the repository root (default state/seen.json).
#                   Set but empty: nothing to commit (state kept in S3).
#   STATE_REMOTE    remote to push to (default origin).
#   STATE_BRANCH    branch to push to (default the checked-out branch).
#   PUSH_ATTEMPTS   pull --rebase + push attempts before giving up (default 5).
#   GITHUB_TOKEN    when set, the password git gives GITHUB_SERVER_URL (default https://github.com), and no
#                   other host. A credential helper reads it from the environment when git asks, so it is
#                   never in a command line, in .git/config or in the output.
#
# Exit status: 0 when pushed or when there was nothing to push; 1 otherwise (the reason is printed).
set -euo pipefail

log() { printf 'commit-state: %s\n' "$*"; }
die() { printf '::error::commit-state: %s\n' "$*" >&2; exit 1; }

cd "$(git rev-parse --show-toplevel)"

state_file=${STATE_FILE-state/seen.json}
while [[ $state_file == ./* ]]; do state_file=${state_file#./}; done  # "./state/seen.json" is the same file
remote=${STATE_REMOTE:-origin}
attempts=${PUSH_ATTEMPTS:-5}
summary=${1:-update seen slots}

[[ $attempts =~ ^[1-9][0-9]*$ ]] || die "PUSH_ATTEMPTS must be a positive whole number, not '$attempts'"
branch=${STATE_BRANCH:-$(git symbolic-ref --quiet --short HEAD)} \
    || die "HEAD is detached: set STATE_BRANCH to the branch to push to"

# In Actions no identity is configured; keep one a developer has set.
if [[ -z "$(git config user.name || true)" ]]; then
    export GIT_AUTHOR_NAME='github-actions[bot]' GIT_COMMITTER_NAME='github-actions[bot]'
fi
if [[ -z "$(git config user.email || true)" ]]; then
    export GIT_AUTHOR_EMAIL='41898283+github-actions[bot]@users.noreply.github.com'
    export GIT_COMMITTER_EMAIL='41898283+github-actions[bot]@users.noreply.github.com'
fi

# The workflow checks out with persist-credentials: false, so the token reaches git only here. The empty
# helper first drops any helper configured elsewhere; the helper body is single-quoted on purpose: its
# shell expands $GITHUB_TOKEN at the moment git asks for a password.
export GIT_TERMINAL_PROMPT=0
if [[ -n "${GITHUB_TOKEN:-}" ]]; then
    server=${GITHUB_SERVER_URL:-https://github.com}
    export GIT_CONFIG_COUNT=2
    export GIT_CONFIG_KEY_0="credential.$server.helper" GIT_CONFIG_VALUE_0=''
    export GIT_CONFIG_KEY_1="credential.$server.helper"
    # shellcheck disable=SC2016
    export GIT_CONFIG_VALUE_1='!f() { if [ "$1" = get ]; then printf "username=x-access-token\npassword=%s\n" "$GITHUB_TOKEN"; fi; }; f'
fi

rebase_in_progress() {
    [[ -d "$(git rev-parse --git-path rebase-merge)" || -d "$(git rev-parse --git-path rebase-apply)" ]]
}

# Bring in what was pushed since the checkout and replay our commit on top. Returns 1 when the pull
# failed in a way worth retrying (network), 2 when a conflict outside the state file stops it.
sync_with_remote() {
    if git pull --quiet --rebase --autostash "$remote" "$branch"; then
        return 0
    fi
    rebase_in_progress || return 1
    # Our commits touch only the state file, so only it can conflict. This run's file wins: it was just
    # computed from the latest check. During a rebase "ours" is the upstream side and "theirs" is the
    # commit being replayed, which is this run's.
    local conflicts step
    for step in 1 2 3 4 5 6 7 8 9 10; do
        conflicts=$(git diff --name-only --diff-filter=U)
        if [[ -z $state_file || $conflicts != "$state_file" ]]; then
            git rebase --abort
            log "conflict in files this script does not own: ${conflicts//$'\n'/, }"
            return 2
        fi
        log "both sides changed $state_file; keeping this run's version"
        git checkout --theirs -- "$state_file"
        git add -- "$state_file"
        if GIT_EDITOR=true git rebase --continue >/dev/null; then
            return 0
        fi
        rebase_in_progress || return 1
        log "rebase step $step stopped again"
    done
    git rebase --abort
    return 2
}

# git merges the state file as text: after a rebase, clean or not, it can hold a mix of both runs' files
# (a key twice, a half-updated list). When another run changed the file since this run's checkout, replace
# it with the two states merged by ind_alert.py itself: a slot pushed by either run counts as pushed.
merge_state_files() {
    [[ -n $state_file && -n $ours_copy ]] || return 0
    git diff --quiet "$base" FETCH_HEAD -- "$state_file" 2>/dev/null && return 0  # nobody else changed it
    local upstream merged why
    upstream=$(mktemp) merged=$(mktemp) why=$(mktemp)
    # One line on stderr says why a merge failed (an invalid state, a missing ind_alert.py), never a traceback.
    if git show "FETCH_HEAD:$state_file" >"$upstream" 2>/dev/null \
        && "${PYTHON:-python3}" -c 'import sys
try:
    import ind_alert
    text = ind_alert.merge_texts(open(sys.argv[1], encoding="utf-8").read(), open(sys.argv[2], encoding="utf-8").read())
except Exception as exc:
    sys.exit(str(exc) if type(exc).__module__ == "ind_alert" else f"{type(exc).__name__} while merging")
sys.stdout.write(text)' \
            "$ours_copy" "$upstream" >"$merged" 2>"$why"; then
        log "another run changed $state_file too; merged both runs' states"
    else
        cp "$ours_copy" "$merged"
        log "could not merge the other run's $state_file ($(head -c 300 "$why" | tr '\n' ' ' | sed 's/ *$//')); keeping this run's version"
    fi
    if ! cmp -s "$merged" "$state_file"; then
        cp "$merged" "$state_file"
        git add -- "$state_file"
        git commit --quiet --amend --no-edit -- "$state_file"
    fi
    rm -f "$upstream" "$merged" "$why"
}

committed=false
ours_copy=""
base=$(git rev-parse HEAD)

if [[ -z $state_file ]]; then
    log "STATE_FILE is empty: no state to commit"
elif [[ ! -e $state_file ]]; then
    # Never commit a deletion: without the file the next run would announce every slot again.
    log "$state_file does not exist; nothing to commit"
else
    git add -- "$state_file"
    if git diff --cached --quiet -- "$state_file"; then
        log "$state_file unchanged"
    else
        git commit --quiet --message "state: $summary" -- "$state_file"
        committed=true
        ours_copy=$(mktemp)
        cp "$state_file" "$ours_copy"
        log "committed $state_file"
    fi
fi

if [[ $committed == false ]]; then
    log "nothing to push"
    exit 0
fi

for (( attempt = 1; ; attempt++ )); do
    status=0
    sync_with_remote || status=$?
    if (( status == 2 )); then
        die "could not rebase onto $remote/$branch; the state of this run was not pushed"
    fi
    if (( status == 0 )) && [[ $ours_copy ]]; then
        merge_state_files
    fi
    if (( status == 0 )) && git push --quiet "$remote" "HEAD:refs/heads/$branch"; then
        log "pushed to $remote/$branch"
        exit 0
    fi
    if (( attempt >= attempts )); then
        die "push to $remote/$branch failed $attempts times; the next run may announce the same slots again"
    fi
    log "push attempt $attempt of $attempts failed; pulling and retrying"
done
