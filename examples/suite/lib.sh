# Shared by the example tests: a tiny assertion helper, as a real suite would have.
check() {
  if [ "$1" != "$2" ]; then
    echo "FAIL: expected '$2', got '$1'" >&2
    exit 1
  fi
  echo "ok: $3"
}
