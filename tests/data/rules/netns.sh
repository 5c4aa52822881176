# Sourced by the fixture scripts after they set NS: a namespace of their own, made fresh and
# deleted on exit (also when a command fails), and x to run a command inside it.
ip netns del "$NS" 2>/dev/null || true
trap 'ip netns del "$NS" 2>/dev/null || true' EXIT
ip netns add "$NS"
x() { ip netns exec "$NS" "$@"; }
