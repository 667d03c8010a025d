# DREAM to benefit spells in R with heaven::importDREAM (tagteam/heaven) and data.table (issue 22, point 3).
#
# Called by benchmarks/bench_dream_r.py; not part of `make test`. Usage:
#   Rscript dream_spells_heaven.R <dream.csv> <target_codes.csv> <heaven source dir> <out dir> <threads> <variant>
# <dream.csv>: PNR and the y_YYWW columns of the delivery's DREAM (what importSAS with
#   set.hook="keep=PNR y_:" gives; empty cell = no benefit).
# <target_codes.csv>: code,benefit_group for the codes of the target groups.
# <heaven source dir>: a work tree of github.com/tagteam/heaven; R/importDREAM.R is sourced from it (heaven
#   itself does not install on Debian bookworm: it needs Rcpp >= 1.0.14, Debian has 1.0.10; importDREAM uses
#   data.table only).
# <variant>: "patched" replaces importDREAM's two week-to-date conversions, as.Date(..., format="%G-W%V-%u"),
#   which R's strptime accepts but ignores on input (every start and end becomes today's date), by the ISO
#   week's Monday; "shipped" runs the function as it is.
# Writes <out dir>/spells_heaven.csv (PNR, benefit_group, start, end: start = Monday of the first week,
# end = Monday after the last week, as importDREAM's end) and <out dir>/heaven_result.json.
suppressPackageStartupMessages(library(data.table))
args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 6) stop("usage: dream_spells_heaven.R dream.csv codes.csv heaven_dir out_dir threads variant")
dream_csv <- args[1]; codes_csv <- args[2]; heaven_dir <- args[3]; out_dir <- args[4]
threads <- as.integer(args[5]); variant <- args[6]
if (!variant %in% c("patched", "shipped")) stop("variant must be 'patched' or 'shipped', got: ", variant)
setDTthreads(threads)

src_file <- file.path(heaven_dir, "R", "importDREAM.R")
if (!file.exists(src_file)) stop("heaven source dir has no R/importDREAM.R: ", heaven_dir)
src <- readLines(src_file)
iso_monday <- function(year, week) {
  # Monday of ISO week `week` of ISO year `year`: the week holding 4 January is week 1.
  jan4 <- as.Date(sprintf("%d-01-04", year))
  jan4 - (as.integer(format(jan4, "%u")) - 1L) + 7L * (as.integer(week) - 1L)
}
if (variant == "patched") {
  pat <- 'as\\.Date\\(sprintf\\("%d-W%02d-1", ([a-z_]+), (as\\.integer\\([a-z_]+\\))\\), format = "%G-W%V-%u"\\)'
  hits <- grepl(pat, src)
  if (sum(hits) != 2) stop("expected 2 week-to-date conversions in importDREAM.R, found ", sum(hits))
  src <- gsub(pat, "iso_monday(\\1, \\2)", src)
}
eval(parse(text = src))

mem_mb <- function() sum(gc()[, 6])  # R heap "max used" (Mb) since the last gc(reset = TRUE)

t0 <- Sys.time()
dream <- fread(dream_csv, colClasses = "character", na.strings = c("", "NA"), showProgress = FALSE)
t_read <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
n_persons <- nrow(dream); n_weeks <- sum(startsWith(names(dream), "y_"))
heap_read <- mem_mb()
invisible(gc(reset = TRUE))

t0 <- Sys.time()
long <- importDREAM(dream, type = "support", pnr = "PNR")
t_import <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
heap_import <- mem_mb()
n_runs <- nrow(long)
bad_dates <- long[, sum(start == Sys.Date() | end == Sys.Date())]
rm(dream); invisible(gc(reset = TRUE))

# Spells as regdml defines them: maximal runs of consecutive weeks whose codes are in the same target group.
# importDREAM's rows are runs of one code; consecutive rows of a person touch (end = next start), so adjacent
# rows of one group join into one spell.
t0 <- Sys.time()
codes <- fread(codes_csv, colClasses = "character")
s <- long[support %chin% codes$code]
s[, benefit_group := codes$benefit_group[chmatch(support, codes$code)]]
setkeyv(s, c("PNR", "start"))
n <- nrow(s)
s[, spell := cumsum(c(TRUE, PNR[-1L] != PNR[-n] | benefit_group[-1L] != benefit_group[-n] | start[-1L] != end[-n]))]
spells <- s[, .(start = start[1L], end = end[.N]), by = .(spell, PNR, benefit_group)][, spell := NULL]
t_spells <- as.numeric(difftime(Sys.time(), t0, units = "secs"))
heap_spells <- mem_mb()

fwrite(spells, file.path(out_dir, "spells_heaven.csv"))
res <- list(
  variant = variant, persons = n_persons, weeks = n_weeks, threads = getDTthreads(),
  seconds_read = t_read, seconds_importDREAM = t_import, seconds_spells = t_spells,
  heap_max_mb_read = heap_read, heap_max_mb_importDREAM = heap_import, heap_max_mb_spells = heap_spells,
  n_runs = n_runs, n_runs_with_todays_date = bad_dates, n_spells = nrow(spells),
  r_version = R.version.string, data_table_version = as.character(packageVersion("data.table"))
)
json <- paste0("{", paste(sprintf('"%s": %s', names(res), vapply(res, function(v)
  if (is.character(v)) sprintf('"%s"', v) else format(v, digits = 10), "")), collapse = ", "), "}")
writeLines(json, file.path(out_dir, "heaven_result.json"))
cat(json, "\n")
