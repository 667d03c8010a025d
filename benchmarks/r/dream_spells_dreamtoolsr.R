# DREAM to benefit spells in R with DREAMtoolsR's runs() (github.com/carstennielsen/DREAMtoolsR), issue 22.
#
# Called by benchmarks/bench_dream_r.py; not part of `make test`. Usage:
#   Rscript dream_spells_dreamtoolsr.R <dream.csv> <target_codes.csv> <DREAMtoolsR source dir> <out dir> <persons>
# runs(data, row) run-length encodes one person's DREAM weeks (one call per row, as the package is written);
# it is sourced from R/runs.R of the work tree (it uses base R only). The first <persons> rows of <dream.csv>
# are read into a data.frame (runs() calls as.data.frame(data) on every call: on a data.table that would
# copy the whole table per person). Runs of target codes are then joined into maximal runs of one target
# group with data.table. DREAMtoolsR's u.spells() is not run: it defines unemployment spells as everything
# that is not employment (4 weeks without benefit with income), not spells of a benefit group, and it calls
# DREAMfun::y_2grad_, a package that is not DREAMtoolsR and is not published.
# Writes <out dir>/spells_dreamtoolsr.csv (PNR, benefit_group, start, end: y_YYWW names, NA = DREAM's edge),
# <out dir>/persons.csv and <out dir>/dreamtoolsr_result.json.
suppressPackageStartupMessages(library(data.table))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 5) stop("usage: dream_spells_dreamtoolsr.R dream.csv codes.csv dreamtoolsr_dir out_dir persons")
dream_csv <- args[1]; codes_csv <- args[2]; src_dir <- args[3]; out_dir <- args[4]; k <- as.integer(args[5])
if (is.na(k) || k < 1) stop("persons must be a positive integer, got: ", args[5])
src_file <- file.path(src_dir, "R", "runs.R")
if (!file.exists(src_file)) stop("DREAMtoolsR source dir has no R/runs.R: ", src_dir)
source(src_file)

dream <- fread(dream_csv, colClasses = "character", na.strings = c("", "NA"), nrows = k, showProgress = FALSE)
setDF(dream)
t0 <- Sys.time()
res <- lapply(seq_len(nrow(dream)), function(i) {
  r <- runs(dream, i)
  data.table(PNR = dream$PNR[i], pos = seq_along(r$lengths), value = r$values, start = r$start, end = r$end)
})
t_runs <- as.numeric(difftime(Sys.time(), t0, units = "secs"))

t0 <- Sys.time()
codes <- fread(codes_csv, colClasses = "character")
all <- rbindlist(res)
s <- all[value %in% as.numeric(codes$code)]
s[, benefit_group := codes$benefit_group[match(value, as.numeric(codes$code))]]
setkeyv(s, c("PNR", "pos"))
n <- nrow(s)
s[, spell := cumsum(c(TRUE, PNR[-1L] != PNR[-n] | benefit_group[-1L] != benefit_group[-n] | pos[-1L] != pos[-n] + 1L))]
spells <- s[, .(start = start[1L], end = end[.N]), by = .(spell, PNR, benefit_group)][, spell := NULL]
t_spells <- as.numeric(difftime(Sys.time(), t0, units = "secs"))

fwrite(spells, file.path(out_dir, "spells_dreamtoolsr.csv"))
fwrite(data.table(PNR = dream$PNR), file.path(out_dir, "persons.csv"))
cat(sprintf('{"persons": %d, "weeks": %d, "seconds_runs": %.4f, "seconds_spells": %.4f, "n_runs": %d, "n_spells": %d}\n',
            nrow(dream), sum(startsWith(names(dream), "y_")), t_runs, t_spells, nrow(all), nrow(spells)))
