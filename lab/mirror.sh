#!/usr/bin/env bash
# Prints "<suite> <uri>" lines for Debian suites configured in this machine's apt sources
# (deb822 .sources files and one-line .list files). The repo never names a mirror itself.
set -euo pipefail
{
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    awk 'BEGIN{RS="";FS="\n"} {
      uris="";suites="";types="";enabled="yes"
      for(i=1;i<=NF;i++){ split($i,kv,": *"); k=tolower(kv[1]); v=substr($i,index($i,":")+1); gsub(/^ +| +$/,"",v)
        if(k=="uris")uris=v; else if(k=="suites")suites=v; else if(k=="types")types=v; else if(k=="enabled")enabled=v }
      if(types ~ /(^| )deb( |$)/ && enabled!="no"){ n=split(suites,s," "); m=split(uris,u," "); for(a=1;a<=n;a++) for(b=1;b<=m;b++) print s[a], u[b] } }' "$f"
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -e "$f" ] || continue
    awk '$1=="deb"{ i=2; if($2 ~ /^\[/){ while($i !~ /\]$/) i++; i++ } print $(i+1), $i }' "$f"
  done
} | awk '!seen[$0]++'
