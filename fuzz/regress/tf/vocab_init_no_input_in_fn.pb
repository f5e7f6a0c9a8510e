

tHashTableV25
3


f
a%
initInitializeTableFromTextFileV2"í