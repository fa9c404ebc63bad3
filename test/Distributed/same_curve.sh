#!/bin/sh
# same_curve.sh A B [LINES]: the training runs whose output is in files A and B have the same loss on every
# progress line (or on every line matching the grep pattern LINES, such as 'validation loss'), within the 4
# decimals that progress lines print.
lines=${3:-^step [0-9]*/}
grep "$lines" "$1" | grep -o 'loss [0-9.]*' > "$1.curve"
grep "$lines" "$2" | grep -o 'loss [0-9.]*' > "$2.curve"
[ -s "$1.curve" ] && [ "$(wc -l < "$1.curve")" -eq "$(wc -l < "$2.curve")" ] || { echo "FAIL: the runs log different steps"; exit 1; }
paste "$1.curve" "$2.curve" | awk '{ d = $2 - $4; if (d < 0) d = -d; if (d > 1.5e-4) { print "FAIL: line " NR ": loss " $2 " against " $4; bad = 1 } } END { exit bad }'
