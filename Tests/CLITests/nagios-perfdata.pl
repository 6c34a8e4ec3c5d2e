#!/usr/bin/perl
# Reads a Nagios plugin's output on stdin and judges it with the Monitoring
# Plugins' own Perl library: one line per perfdata item, "label|value|uom|status"
# where status is what the item's own thresholds make of its value (0 OK,
# 1 WARNING, 2 CRITICAL). Exits 1 when the text before "|" or the perfdata
# does not parse.
use strict;
use warnings;
use Monitoring::Plugin::Performance;

my $first = <STDIN>;
defined $first or die "no output\n";
chomp $first;
my ($text, $perf) = split /\|/, $first, 2;
$text =~ /^(OK|WARNING|CRITICAL|UNKNOWN) - \S/ or die "not a plugin status line: $first\n";
defined $perf or die "no perfdata\n";
$perf =~ s/^\s+|\s+$//g;
my @items = Monitoring::Plugin::Performance->parse_perfstring($perf);
my $expected = () = $perf =~ /=/g;
@items == $expected or die "perfdata: " . scalar(@items) . " of $expected items parsed: $perf\n";
for my $p (@items) {
    printf "%s|%s|%s|%d\n", $p->label, $p->value, $p->uom // "", $p->threshold->get_status($p->value);
}
