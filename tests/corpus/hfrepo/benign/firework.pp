{
}
//{$mode objfpc}
{$INLINE OFF}
program firework;
begin
end.
